using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace MoeServe.Runtime.Attention;

/// <summary>
/// float16 (<see cref="Half"/>) for the KV cache: <see cref="Encode(float)"/> when a key or value is
/// appended, <see cref="Widen"/> when attention reads eight of them. .NET exposes no F16C
/// (vcvtph2ps) intrinsic, so the widening is integer arithmetic in a 256-bit register: sign-extend
/// the 16 bits to 32, shift the exponent and mantissa into float32's places, clear the sign's
/// copies, and multiply by 2^112 (float16's exponent bias 15 to float32's 127). That is exact for
/// every finite float16, subnormals included; <see cref="Encode(float)"/> stores no subnormals (they would
/// widen through float32 subnormals, which are slow on some CPUs) and no infinities.
/// </summary>
internal static class HalfVectors
{
    /// <summary>Largest finite float16.</summary>
    public const float MaxValue = 65504f;

    /// <summary>Smallest normal float16 (2^-14); smaller magnitudes are stored as zero.</summary>
    public const float MinNormal = 6.1035156e-5f;

    // 2^112 as float32 bits: (127 + 112) << 23.
    private const int ScaleBits = 0x77800000;

    // Sign bit and the 5 + 10 exponent and mantissa bits of a float16 shifted left by 13.
    private const int KeepBits = unchecked((int)0x8FFFE000);

    /// <summary>
    /// The float16 stored for <paramref name="value"/>: round to nearest even, magnitudes above
    /// <see cref="MaxValue"/> saturate (no infinity), magnitudes below <see cref="MinNormal"/> become
    /// zero (absolute error below 6.2e-5, under half the rounding step of a value of magnitude 1).
    /// NaN stays NaN (it widens to a large finite number: a model that produces NaN keys is broken anyway).
    /// </summary>
    /// <param name="value">A key or value channel.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Half Encode(float value)
    {
        float magnitude = MathF.Abs(value);
        if (magnitude < MinNormal)
        {
            return (Half)0f;
        }

        return magnitude > MaxValue ? (Half)MathF.CopySign(MaxValue, value) : (Half)value;
    }

    /// <summary>Encodes <paramref name="source"/> into <paramref name="destination"/> (<see cref="Encode(float)"/> per element).</summary>
    /// <param name="source">Float32 numbers.</param>
    /// <param name="destination">At least as long as <paramref name="source"/>.</param>
    public static void Encode(ReadOnlySpan<float> source, Span<Half> destination)
    {
        destination = destination[..source.Length];
        for (int i = 0; i < source.Length; i++)
        {
            destination[i] = Encode(source[i]);
        }
    }

    /// <summary>Eight float16 numbers (as their bits) widened to float32, exactly for finite inputs.</summary>
    /// <param name="bits">The float16 bit patterns.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Widen(Vector128<short> bits) => PlaceInt32(Vector256.WidenLower(bits.ToVector256Unsafe())) * Vector256.Create(ScaleBits).AsSingle();

    /// <summary>
    /// The first part of <see cref="Widen"/>, for float16 bit patterns already sign-extended to 32 bits: the sign,
    /// exponent and mantissa in float32's places without the exponent's rebias, so each number is its value times
    /// 2^-112, exactly (a float16 subnormal as a float32 subnormal).
    /// </summary>
    /// <param name="wide">The float16 bit patterns, sign-extended.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> PlaceInt32(Vector256<int> wide) => ((wide << 13) & Vector256.Create(KeepBits)).AsSingle();
}
