// exifr's "lite" build has the same API as its full build, whose types the package ships.
declare module "exifr/dist/lite.esm.mjs" {
  export { parse } from "exifr";
}
