// Resolves 'k6' and 'k6/...' imports to the stand-in modules in ./modules.
export async function resolve(specifier, context, next) {
  if (specifier === 'k6' || specifier.startsWith('k6/')) {
    const name = specifier === 'k6' ? 'k6' : specifier.slice(3).replace(/\//g, '-');
    return { url: new URL(`./modules/${name}.mjs`, import.meta.url).href, shortCircuit: true };
  }
  return next(specifier, context);
}
