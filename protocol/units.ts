/** Bytes as MiB with one decimal, as the broker's log and the CLI show sizes. */
export function mebibytes(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}
