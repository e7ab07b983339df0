using System.Text;

namespace MoeServe.Text.Tokenization;

/// <summary>
/// Trains a byte-level BPE vocabulary (the kind tiktoken and GPT-2 use). Text is pre-tokenized into
/// distinct words with counts; every word starts as its UTF-8 bytes; the most frequent adjacent pair is
/// merged into a new token, repeatedly. Pair counts are kept up to date incrementally: a merge only
/// revisits the words that contain the merged pair (an index from pair to words), and a max-heap with
/// lazy deletion finds the next most frequent pair. Ties go to the smaller (left id, right id) pair, so
/// training is deterministic.
/// </summary>
public sealed class BpeTrainer
{
    /// <summary>Ids 0-255 are the single bytes 0-255.</summary>
    public const int ByteTokenCount = 256;

    private readonly BpeTrainerOptions _options;
    private readonly TimeProvider _time;

    /// <summary>Creates a trainer.</summary>
    /// <param name="options">Validated settings; every problem is reported at once.</param>
    /// <param name="time">Clock for the timing statistics (the system clock when null).</param>
    public BpeTrainer(BpeTrainerOptions options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();
        _options = options;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Trains on the given texts (special tokens inside them are cut out, never merged).</summary>
    /// <param name="texts">Training text, in any number of pieces; words never span two pieces.</param>
    /// <param name="progress">Receives progress reports; may be null.</param>
    /// <param name="cancellationToken">Stops training between merges.</param>
    public BpeTrainingResult Train(IEnumerable<string> texts, IProgress<BpeTrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(texts);
        long start = _time.GetTimestamp();
        var counter = new WordCounter(_options.Pattern, _options.SpecialTokens);
        long characters = 0;
        foreach (string text in texts)
        {
            cancellationToken.ThrowIfCancellationRequested();
            counter.Add(text);
            characters += text.Length;
            progress?.Report(new BpeTrainingProgress("pre-tokenize", characters, characters, null, 0));
        }

        long merged = _time.GetTimestamp();
        int wanted = _options.VocabularySize - ByteTokenCount - _options.SpecialTokens.Count;
        var state = new MergeState(counter.Counts);
        var tokens = new List<byte[]>(_options.VocabularySize);
        for (int b = 0; b < ByteTokenCount; b++)
        {
            tokens.Add([(byte)b]);
        }

        var tokenIds = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int b = 0; b < ByteTokenCount; b++)
        {
            tokenIds.Add(Key(tokens[b]), b);
        }

        int merges = 0;
        while (tokens.Count < ByteTokenCount + wanted && state.TryTakeBest(out int left, out int right, out long count))
        {
            if (count < _options.MinPairFrequency)
            {
                break;
            }

            cancellationToken.ThrowIfCancellationRequested();
            byte[] bytes = [.. tokens[left], .. tokens[right]];
            string key = Key(bytes);
            if (!tokenIds.TryGetValue(key, out int id))
            {
                // A byte string reachable by two different splits gets one id: tiktoken files list each byte string once.
                id = tokens.Count;
                tokens.Add(bytes);
                tokenIds.Add(key, id);
            }

            state.Merge(left, right, id);
            merges++;
            if (merges % _options.ProgressInterval == 0)
            {
                progress?.Report(new BpeTrainingProgress("merge", tokens.Count - ByteTokenCount, wanted, Encoding.UTF8.GetString(bytes), count));
            }
        }

        progress?.Report(new BpeTrainingProgress("merge", tokens.Count - ByteTokenCount, wanted, null, 0));
        var specials = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (string special in _options.SpecialTokens)
        {
            specials.Add(special, tokens.Count + specials.Count);
        }

        long end = _time.GetTimestamp();
        var statistics = new BpeTrainingStatistics(
            characters, counter.Words, counter.Counts.Count, merges, _time.GetElapsedTime(start, merged), _time.GetElapsedTime(merged, end));
        return new BpeTrainingResult(new BpeVocabulary(tokens, specials, _options.Pattern), statistics);
    }

    private static string Key(byte[] bytes) => Encoding.Latin1.GetString(bytes);

    /// <summary>Words as symbol arrays, pair counts, the pair-to-words index and the heap.</summary>
    private sealed class MergeState
    {
        private readonly int[][] _symbols;
        private readonly int[] _lengths;
        private readonly long[] _frequencies;
        private readonly Dictionary<long, long> _pairCounts = [];
        private readonly Dictionary<long, HashSet<int>> _pairWords = [];
        private readonly PriorityQueue<long, (long Count, long Pair)> _heap = new(PairOrder.Instance);
        private readonly Dictionary<long, long> _delta = [];

        public MergeState(IReadOnlyDictionary<string, long> words)
        {
            // Sorted so that word indices (and so every tie-break) do not depend on dictionary order.
            var sorted = words.OrderBy(w => w.Key, StringComparer.Ordinal).ToArray();
            _symbols = new int[sorted.Length][];
            _lengths = new int[sorted.Length];
            _frequencies = new long[sorted.Length];
            for (int w = 0; w < sorted.Length; w++)
            {
                byte[] utf8 = Encoding.UTF8.GetBytes(sorted[w].Key);
                _symbols[w] = Array.ConvertAll(utf8, b => (int)b);
                _lengths[w] = utf8.Length;
                _frequencies[w] = sorted[w].Value;
                for (int i = 0; i + 1 < utf8.Length; i++)
                {
                    long pair = Pack(utf8[i], utf8[i + 1]);
                    _pairCounts[pair] = _pairCounts.GetValueOrDefault(pair) + sorted[w].Value;
                    WordsOf(pair).Add(w);
                }
            }

            foreach (var (pair, count) in _pairCounts)
            {
                _heap.Enqueue(pair, (count, pair));
            }
        }

        public bool TryTakeBest(out int left, out int right, out long count)
        {
            while (_heap.TryDequeue(out long pair, out var priority))
            {
                // Lazy deletion: an entry is current only if its count still matches.
                if (_pairCounts.TryGetValue(pair, out long current) && current == priority.Count)
                {
                    left = (int)(pair >> 32);
                    right = (int)(pair & 0xFFFFFFFF);
                    count = current;
                    return true;
                }
            }

            left = right = 0;
            count = 0;
            return false;
        }

        public void Merge(int left, int right, int id)
        {
            long merged = Pack(left, right);
            if (!_pairWords.Remove(merged, out var words))
            {
                return;
            }

            _delta.Clear();
            foreach (int w in words)
            {
                MergeWord(w, left, right, id);
            }

            foreach (var (pair, change) in _delta)
            {
                if (change == 0)
                {
                    continue;
                }

                long count = _pairCounts.GetValueOrDefault(pair) + change;
                if (count <= 0)
                {
                    _pairCounts.Remove(pair);
                }
                else
                {
                    _pairCounts[pair] = count;
                    _heap.Enqueue(pair, (count, pair));
                }
            }
        }

        private void MergeWord(int w, int left, int right, int id)
        {
            int[] symbols = _symbols[w];
            int length = _lengths[w];
            long frequency = _frequencies[w];
            bool found = false;
            for (int i = 0; i + 1 < length && !found; i++)
            {
                found = symbols[i] == left && symbols[i + 1] == right;
            }

            if (!found)
            {
                // The index is not pruned when a word loses a pair; such stale entries are skipped here.
                return;
            }

            for (int i = 0; i + 1 < length; i++)
            {
                long pair = Pack(symbols[i], symbols[i + 1]);
                _delta[pair] = _delta.GetValueOrDefault(pair) - frequency;
            }

            int j = 0;
            for (int i = 0; i < length;)
            {
                if (i + 1 < length && symbols[i] == left && symbols[i + 1] == right)
                {
                    symbols[j++] = id;
                    i += 2;
                }
                else
                {
                    symbols[j++] = symbols[i++];
                }
            }

            _lengths[w] = j;
            for (int i = 0; i + 1 < j; i++)
            {
                long pair = Pack(symbols[i], symbols[i + 1]);
                _delta[pair] = _delta.GetValueOrDefault(pair) + frequency;
                if (symbols[i] == id || symbols[i + 1] == id)
                {
                    WordsOf(pair).Add(w);
                }
            }
        }

        private HashSet<int> WordsOf(long pair)
        {
            if (!_pairWords.TryGetValue(pair, out var set))
            {
                set = [];
                _pairWords.Add(pair, set);
            }

            return set;
        }

        private static long Pack(int left, int right) => ((long)left << 32) | (uint)right;
    }

    /// <summary>Higher count first; on a tie the smaller packed (left, right) pair first.</summary>
    private sealed class PairOrder : IComparer<(long Count, long Pair)>
    {
        public static readonly PairOrder Instance = new();

        public int Compare((long Count, long Pair) x, (long Count, long Pair) y)
        {
            int byCount = y.Count.CompareTo(x.Count);
            return byCount != 0 ? byCount : x.Pair.CompareTo(y.Pair);
        }
    }
}

/// <summary>A trained vocabulary and what training did.</summary>
/// <param name="Vocabulary">The vocabulary, ready for <see cref="TokenizerFiles.Save"/>.</param>
/// <param name="Statistics">Counts and timings.</param>
public sealed record BpeTrainingResult(BpeVocabulary Vocabulary, BpeTrainingStatistics Statistics);
