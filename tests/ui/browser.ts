/**
 * Launching Debian's Chromium for the dashboard tests and screenshots.
 * @module
 */

import { type BrowserContext, chromium } from "playwright-core";

/** Where Debian installs Chromium. */
export const CHROMIUM = "/usr/bin/chromium";

/** Why the browser tests cannot run here, or `null` when they can. */
export async function browserMissing(): Promise<string | null> {
  try {
    await Deno.stat(CHROMIUM);
    return null;
  } catch {
    return `${CHROMIUM} not found (install Debian's chromium package to run the dashboard tests)`;
  }
}

/** Options of {@linkcode launchBrowser}. */
export interface LaunchOptions {
  viewport?: { width: number; height: number };
  colorScheme?: "light" | "dark";
}

/**
 * A headless Chromium with a fresh profile (its `--user-data-dir`, which Playwright takes as the
 * persistent context's directory); `dispose()` closes it and removes the profile.
 */
export async function launchBrowser(
  options: LaunchOptions = {},
): Promise<BrowserContext & { dispose(): Promise<void> }> {
  const profile = await Deno.makeTempDir({ prefix: "jobdist-chromium-" });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: options.viewport ?? { width: 1280, height: 900 },
    colorScheme: options.colorScheme ?? "light",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return Object.assign(context, {
    async dispose() {
      await context.close();
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    },
  });
}
