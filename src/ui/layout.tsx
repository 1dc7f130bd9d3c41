/**
 * The page shell: head, navigation and the one script tag of the client bundle.
 * @module
 */

import type { ComponentChildren } from "preact";

/** The pages in the navigation. */
export type NavPage = "overview" | "jobs" | "agents" | "schedules" | "submit" | "login";

/** Props of {@linkcode Layout}. */
export interface LayoutProps {
  title: string;
  active: NavPage;
  /** Fingerprint of the bundle and stylesheet, so browsers cache them until they change. */
  assetVersion: string;
  /** Whether to show the log out button (only with tokens configured). */
  loggedIn: boolean;
  children: ComponentChildren;
}

const NAV: Array<[NavPage, string, string]> = [
  ["overview", "/", "Overview"],
  ["jobs", "/jobs", "Jobs"],
  ["agents", "/agents", "Agents"],
  ["schedules", "/schedules", "Schedules"],
  ["submit", "/submit", "Submit"],
];

/** The whole HTML document of a page. */
export function Layout(props: LayoutProps) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="color-scheme" content="light dark" />
        <link rel="icon" href="data:," />
        <title>{`${props.title} · jobdist`}</title>
        <link rel="stylesheet" href={`/ui/app.css?v=${props.assetVersion}`} />
        <script type="module" src={`/ui/app.js?v=${props.assetVersion}`} />
      </head>
      <body>
        <a class="skip" href="#main">Skip to content</a>
        <header class="top">
          <a class="brand" href="/">jobdist</a>
          {props.active !== "login" && (
            <nav aria-label="Main">
              {NAV.map(([page, href, label]) => (
                <a href={href} aria-current={page === props.active ? "page" : undefined}>
                  {label}
                </a>
              ))}
            </nav>
          )}
          <span class="spacer" />
          {props.loggedIn && (
            <form method="post" action="/logout">
              <button type="submit">Log out</button>
            </form>
          )}
        </header>
        <main id="main">{props.children}</main>
      </body>
    </html>
  );
}
