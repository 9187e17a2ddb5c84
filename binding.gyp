{
  "targets": [
    {
      "target_name": "sockbus_native",
      "sources": ["broker/native/credentials.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
