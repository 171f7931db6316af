/** This SDK's version (sent in the `user-agent` header). */
export const VERSION = "0.1.0";
