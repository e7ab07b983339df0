namespace MoeServe.Runtime;

/// <summary>How the KV cache stores keys and values (attention always computes in float32).</summary>
public enum KvCacheDType
{
    /// <summary>float16 (<see cref="Half"/>): half the bytes attention reads per step; the default. See docs/runtime.md for the accuracy measured.</summary>
    Float16,

    /// <summary>float32: exactly the numbers the qkv graph produced.</summary>
    Float32,
}
