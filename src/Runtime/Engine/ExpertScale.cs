using MoeServe.Model;

namespace MoeServe.Runtime;

/// <summary>
/// Whether a model's experts are large enough that single-token work is worth spreading over threads. A
/// small expert's Run (models/default: 0.2M multiply-adds a token) costs less than waking a thread; a large
/// one (OLMoE: 6.3M, top-8) streams megabytes of weights, which two threads read faster than one.
/// </summary>
internal static class ExpertScale
{
    /// <summary>Multiply-adds of one token's top-k expert work above which a model's experts count as large.</summary>
    public const long LargeExpertWork = 4_000_000;

    /// <summary>Whether one token's top-k expert work exceeds <see cref="LargeExpertWork"/>.</summary>
    public static bool IsLarge(ModelConfig config) => (long)config.TopK * 3 * config.DModel * config.ExpertHidden > LargeExpertWork;

    /// <summary>
    /// The intra-op threads a load uses: the option when set, else the processor count for large experts
    /// (measured on the OLMoE shape: 17.9 against 14.7 tokens/s at one sequence) and for a small model whose steps
    /// of few tokens run in the float16 kernels (its sessions then see only larger steps, which two threads finish
    /// sooner: a 200-token prompt at 8 sequences in 114-151 ms against 158), else 1 (every Run of a small model is
    /// too short to be worth waking a thread).
    /// </summary>
    public static int IntraOpThreads(RuntimeOptions options, ModelConfig config, bool fewRowKernels) =>
        options.IntraOpThreads > 0 ? options.IntraOpThreads : IsLarge(config) || fewRowKernels ? Environment.ProcessorCount : 1;

    /// <summary>Steps with fewer tokens than this run the expert phase on the calling thread (1 for large experts: never).</summary>
    public static int MinParallelExpertTokens(RuntimeOptions options, ModelConfig config) =>
        IsLarge(config) ? 1 : options.MinParallelTokens;
}
