/** Persian (U+06F0..) and Arabic-Indic (U+0660..) digits as ASCII, as people type them. */
export function asciiDigits(text: string): string {
  return text.replace(/[\u06F0-\u06F9\u0660-\u0669]/g, (d) => String((d.codePointAt(0)! & 0xf) % 10));
}
