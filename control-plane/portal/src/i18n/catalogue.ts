import type en from "./en";

/** Every string value of `T` widened to `string`: the shape a translation must have. */
type Strings<T> = { [K in keyof T]: T[K] extends string ? string : Strings<T[K]> };

/** The catalogue every language provides, keyed like the English one. */
export type Catalogue = Strings<typeof en>;
