/**
 * The guides bundled at build time: toc.json and every
 * `control-plane/docs/guides/<lang>/<slug>.md`, as text in the docs chunk
 * (nothing is fetched at run time). `control-plane/build.rs` rebuilds the
 * portal when anything under `control-plane/docs/guides/` changes.
 */
import toc from "../../../../../docs/guides/toc.json";
import { buildLibrary } from "./library";
import type { TocFile } from "./library";

const files = import.meta.glob<string>("../../../../../docs/guides/*/*.md", {
  query: "?raw",
  import: "default",
  eager: true,
});

export const library = buildLibrary(toc as TocFile, files);
