/**
 * The part of Bun's `bun:ffi` that overlay uses (libc.ts). Declared
 * here rather than pulling in @types/bun for a handful of declarations.
 */
declare module 'bun:ffi' {
  export const FFIType: { readonly i32: 5; readonly u64: 8; readonly ptr: 12 };
  export type Pointer = number & { __pointer__: null };
  type Signature = { args: readonly number[]; returns: number };
  type Fn<S extends Signature> = (...args: (number | Pointer)[]) => S['returns'] extends 12 ? Pointer : number;
  export function dlopen<T extends Record<string, Signature>>(path: string, symbols: T): { symbols: { [K in keyof T]: Fn<T[K]> }; close(): void };
  export function ptr(view: ArrayBufferView, byteOffset?: number): Pointer;
  export const read: { i32(ptr: Pointer, byteOffset?: number): number };
}
