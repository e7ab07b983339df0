class Metric {
  constructor(kind, name, isTime = false) {
    this.kind = kind;
    this.name = name;
    this.isTime = isTime;
    globalThis.__k6shim.metrics[name] = { kind, isTime, values: [] };
  }
  add(value, tags) {
    if (typeof value !== 'number' && typeof value !== 'boolean') throw new Error(`${this.name}: k6 metrics take numbers or booleans, got ${typeof value}`);
    globalThis.__k6shim.metrics[this.name].values.push({ value: Number(value), tags });
  }
}
export class Trend extends Metric { constructor(name, isTime) { super('trend', name, isTime); } }
export class Rate extends Metric { constructor(name) { super('rate', name); } }
export class Counter extends Metric { constructor(name) { super('counter', name); } }
export class Gauge extends Metric { constructor(name) { super('gauge', name); } }
