export class SharedArray {
  constructor(name, factory) {
    const data = factory();
    if (!Array.isArray(data)) throw new Error(`SharedArray ${name}: the factory must return an array`);
    return data;
  }
}
