namespace MoeServe.Runtime;

/// <summary>
/// Every buffer one forward step needs, sized once for <see cref="RuntimeOptions.MaxBatchTokens"/> and
/// <see cref="RuntimeOptions.MaxSequences"/>, pinned so OrtValues can point into them without copying.
/// Used by one step at a time.
/// </summary>
internal sealed class Workspace
{
    public Workspace(int maxTokens, int maxSequences, int d, int queryWidth, int keyValueWidth, int m, int k, int vocab, int workers)
    {
        Ids = Pinned<long>(maxTokens);
        Positions = Pinned<long>(maxTokens);
        HiddenA = Pinned<float>(maxTokens * d);
        HiddenB = Pinned<float>(maxTokens * d);
        FfnInput = Pinned<float>(maxTokens * d);
        Query = Pinned<float>(maxTokens * queryWidth);
        Key = Pinned<float>(maxTokens * keyValueWidth);
        Value = Pinned<float>(maxTokens * keyValueWidth);
        Attention = Pinned<float>(maxTokens * queryWidth);
        RouterLogits = Pinned<float>(maxTokens * m);
        Scores = Pinned<float>(maxTokens * m);
        Experts = new int[maxTokens * k];
        Gates = new float[maxTokens * k];
        RowOfSlot = new int[maxTokens * k];
        ExpertOfRow = new int[maxTokens * k];
        GatherIn = Pinned<float>(maxTokens * k * d);
        GatherOut = Pinned<float>(maxTokens * k * d);
        SharedOut = Pinned<float>(maxTokens * d);
        HeadIn = Pinned<float>(maxSequences * d);
        HeadOut = Pinned<float>(maxSequences * vocab);
        TokenOffsets = new int[maxSequences];
        WorkOrder = new int[Math.Max(m + 1, maxTokens * k)];
        OrderKeys = new int[m + 1];
        WorkerExpertSeconds = new double[workers * m];
    }

    public long[] Ids { get; }

    public long[] Positions { get; }

    public float[] HiddenA { get; set; }

    public float[] HiddenB { get; set; }

    public float[] FfnInput { get; }

    /// <summary>qkv graph output [tokens, H, hd] (RoPE applied).</summary>
    public float[] Query { get; }

    /// <summary>qkv graph output [tokens, kvHeads, hd] (RoPE applied), appended to the caches by the attention.</summary>
    public float[] Key { get; }

    /// <summary>qkv graph output [tokens, kvHeads, hd].</summary>
    public float[] Value { get; }

    /// <summary>Managed attention output [tokens, H x hd] (heads concatenated), the post graph's input.</summary>
    public float[] Attention { get; }

    public float[] RouterLogits { get; }

    public float[] Scores { get; }

    public int[] Experts { get; }

    public float[] Gates { get; }

    /// <summary>For each token-major slot (token x k + rank), its row in the expert-major gather buffers.</summary>
    public int[] RowOfSlot { get; }

    /// <summary>For each expert-major row, its expert (per-token dispatch).</summary>
    public int[] ExpertOfRow { get; }

    public float[] GatherIn { get; }

    public float[] GatherOut { get; }

    public float[] SharedOut { get; }

    public float[] HeadIn { get; }

    public float[] HeadOut { get; }

    public int[] TokenOffsets { get; }

    public int[] WorkOrder { get; }

    public int[] OrderKeys { get; }

    public double[] WorkerExpertSeconds { get; }

    private float[] _allLogits = [];

    /// <summary>Head output for every position (eval); allocated on first use, grown as needed.</summary>
    public float[] EnsureAllLogits(int length)
    {
        if (_allLogits.Length < length)
        {
            _allLogits = Pinned<float>(length);
        }

        return _allLogits;
    }

    public void SwapHidden() => (HiddenA, HiddenB) = (HiddenB, HiddenA);

    private static T[] Pinned<T>(int length) => GC.AllocateArray<T>(Math.Max(1, length), pinned: true);
}
