using MoeServe.Model;

namespace MoeServe.TestSupport;

/// <summary>
/// The tiny model every test project builds: one configuration small enough to export and run in
/// seconds, written with the production <see cref="RandomCheckpoint"/>. Test-only, so it lives here
/// rather than in src/Model.
/// </summary>
public static class TinyCheckpoint
{
    /// <summary>
    /// A tiny configuration: vocab 272, d 32, 2 layers, 4 heads (hd 8), 4 experts, top-2,
    /// expert hidden 16, no shared expert, context 64.
    /// </summary>
    public static ModelConfig DefaultConfig { get; } = new()
    {
        VocabSize = 272,
        DModel = 32,
        Layers = 2,
        Heads = 4,
        Experts = 4,
        TopK = 2,
        ExpertHidden = 16,
        ContextLength = 64,
    };

    /// <summary>The byte-level tokenizer's end-of-text id.</summary>
    public const int ByteTokenizerEndOfTextId = RandomCheckpoint.ByteTokenizerEndOfTextId;

    /// <summary>Writes a random-weight checkpoint of <paramref name="config"/> into <paramref name="directory"/>.</summary>
    /// <param name="directory">Created if needed.</param>
    /// <param name="config">The architecture, usually <see cref="DefaultConfig"/> with a change or two.</param>
    /// <param name="seed">Seed of every random value.</param>
    /// <param name="options">Tokenizer source, q scale, optional files.</param>
    public static CheckpointLayout CreateRandom(string directory, ModelConfig config, int seed, RandomCheckpointOptions? options = null) =>
        RandomCheckpoint.Write(directory, config, seed, options);
}
