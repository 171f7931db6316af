import { useEffect } from "react";

/** Names the browser tab after the page, in the current language. */
export function useDocumentTitle(title: string): void {
  useEffect(() => {
    document.title = title ? `${title} · AI Hub` : "AI Hub";
  }, [title]);
}
