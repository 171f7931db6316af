import "@testing-library/jest-dom/vitest";
import { cleanup, configure } from "@testing-library/react";
import { afterEach } from "vitest";

// `findBy…` and `waitFor` poll until their condition holds; this is only
// how long they keep trying before failing. Testing Library's default of
// 1 s was too short on a loaded 2-core CI machine (a dashboard test that
// needed 1.05 s failed once), so give them 10 s.
configure({ asyncUtilTimeout: 10_000 });

afterEach(() => {
  cleanup();
  localStorage.clear();
});
