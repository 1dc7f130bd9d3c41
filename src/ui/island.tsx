/**
 * Islands: components the server renders to HTML and the browser hydrates. The server writes
 * the props as JSON into a `data-props` attribute (the renderer escapes it), and the bundle's
 * entry (`client.tsx`) finds every `[data-island]` and hydrates it with the same props.
 * @module
 */

import type { ComponentType } from "preact";

/** Props of {@linkcode Island}. */
export interface IslandProps<P extends object> {
  /** The name `client.tsx` knows the component by. */
  name: string;
  component: ComponentType<P>;
  /** JSON-serializable props. */
  props: P;
}

/** Renders `component` as an island the browser hydrates. */
export function Island<P extends object>({ name, component: Component, props }: IslandProps<P>) {
  return (
    <div data-island={name} data-props={JSON.stringify(props)}>
      <Component {...props} />
    </div>
  );
}
