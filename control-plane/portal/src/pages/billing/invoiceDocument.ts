/**
 * Shows the server's print-ready invoice (`GET /invoices/{id}/html`) inside
 * the portal. The portal's Content-Security-Policy (`style-src 'self'`)
 * applies to a `srcdoc` frame too (and to `DOMParser`), so the invoice's own
 * `<style>` blocks and `style` attributes would be refused (and reported on
 * the console). Instead
 * the markup is split: the frame gets it without styles, and once it has
 * loaded the styles are applied through the CSSOM (constructed style sheets
 * and `style.cssText`), which the policy does not govern. The frame is
 * sandboxed without scripts, so nothing in the document runs; its scripts,
 * event handler attributes and buttons are left out.
 */

export interface SplitDocument {
  /** The markup without `<style>` elements, `style` attributes moved to `data-invoice-style`. */
  html: string;
  /** The text of every `<style>` element, in order. */
  css: string[];
}

const STYLE_ATTR = "data-invoice-style";

/**
 * Takes the styles out of an HTML document. Under the portal's CSP even an
 * inert parse (`DOMParser`) reports every `<style>`, `style` attribute and
 * event handler attribute it meets, so they are taken out of the text first
 * (style blocks and attributes inside tags only); the parse then removes
 * whatever is left of scripts and buttons.
 */
export function splitStyles(source: string): SplitDocument {
  const css: string[] = [];
  const text = source
    .replace(/<style\b[^>]*>([\s\S]*?)<\/style\s*>/gi, (_, body: string) => {
      css.push(body);
      return "";
    })
    .replace(/<script\b[\s\S]*?<\/script\s*>/gi, "")
    .replace(/<[a-zA-Z][^>]*>/g, (tag) =>
      tag.replace(/\s(style|on[a-z]+)\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+)/gi, (_, name: string, value: string) =>
        name.toLowerCase() === "style" ? ` ${STYLE_ATTR}=${value}` : "",
      ),
    );
  const doc = new DOMParser().parseFromString(text, "text/html");
  // Scripts do not run in the sandbox: leave none behind, nor buttons that
  // would need them (the dialog has its own print button).
  for (const dead of [...doc.querySelectorAll("script, style, button")]) dead.remove();
  for (const el of [...doc.querySelectorAll("*")]) {
    for (const attr of [...el.attributes]) {
      if (/^on/i.test(attr.name) || attr.name === "style") el.removeAttribute(attr.name);
    }
  }
  return { html: `<!doctype html>\n${doc.documentElement.outerHTML}`, css };
}

/** Applies the styles `splitStyles` took out, in the loaded frame's document. */
export function applyStyles(frame: HTMLIFrameElement, css: string[]): void {
  const doc = frame.contentDocument;
  const win = frame.contentWindow as (Window & typeof globalThis) | null;
  if (!doc || !win) return;
  if (css.length > 0 && "adoptedStyleSheets" in doc && typeof win.CSSStyleSheet === "function") {
    try {
      const sheets = css.map((text) => {
        const sheet = new win.CSSStyleSheet();
        sheet.replaceSync(text);
        return sheet;
      });
      doc.adoptedStyleSheets = [...doc.adoptedStyleSheets, ...sheets];
    } catch {
      // A browser without constructed style sheets shows the invoice unstyled.
    }
  }
  for (const el of [...doc.querySelectorAll<HTMLElement>(`[${STYLE_ATTR}]`)]) {
    el.style.cssText = el.getAttribute(STYLE_ATTR) ?? "";
  }
}
