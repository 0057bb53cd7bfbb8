// Plain-text helpers shared by evaluation, calibration and fine-tuning.

/**
 * The documents of a text: the pieces between "\n\n", kept as they are (the last one keeps the
 * file's final newline, as the reference protocol does), blank ones dropped.
 */
export function splitDocuments(text: string): string[] {
  return text
    .replace(/\r\n/g, '\n')
    .split('\n\n')
    .filter((d) => d.trim().length > 0);
}
