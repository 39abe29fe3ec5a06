/** What the client says when the server could not be reached (there is no answer to take a message from). */
export const NETWORK_MESSAGES: Readonly<Record<"fa" | "en", string>> = {
  fa: "ارتباط با سرور برقرار نشد. اتصال اینترنت را بررسی کنید و دوباره تلاش کنید.",
  en: "Could not reach the server. Check your connection and try again.",
};
