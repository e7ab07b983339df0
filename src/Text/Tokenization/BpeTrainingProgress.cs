namespace MoeServe.Text.Tokenization;

/// <summary>A progress report of <see cref="BpeTrainer"/>.</summary>
/// <param name="Stage">"pre-tokenize" while counting words, "merge" while learning merges.</param>
/// <param name="Done">Merges learned so far (or characters pre-tokenized).</param>
/// <param name="Total">Merges wanted (or characters to pre-tokenize).</param>
/// <param name="LastToken">The most recent merged token, as text (bytes decoded leniently), when merging.</param>
/// <param name="LastPairCount">How often the most recent merged pair occurred.</param>
public readonly record struct BpeTrainingProgress(string Stage, long Done, long Total, string? LastToken, long LastPairCount);

/// <summary>What a training run did, for logs and docs.</summary>
/// <param name="InputCharacters">Characters of training text.</param>
/// <param name="Words">Pre-tokenized words (with repetition).</param>
/// <param name="UniqueWords">Distinct pre-tokenized words.</param>
/// <param name="Merges">Merges learned.</param>
/// <param name="PreTokenizeTime">Time spent cutting and counting words.</param>
/// <param name="MergeTime">Time spent learning merges.</param>
public sealed record BpeTrainingStatistics(long InputCharacters, long Words, int UniqueWords, int Merges, TimeSpan PreTokenizeTime, TimeSpan MergeTime);
