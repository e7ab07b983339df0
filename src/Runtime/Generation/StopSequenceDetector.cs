using System.Text;

namespace MoeServe.Runtime.Generation;

/// <summary>
/// Watches the decoded output text for stop sequences. Text that could still be the start of a stop
/// sequence is held back, so a streamed response never shows part of a stop string.
/// </summary>
public sealed class StopSequenceDetector
{
    private readonly string[] _stops;
    private readonly int _longest;
    private readonly StringBuilder _pending = new();

    /// <summary>Creates a detector; an empty list never stops.</summary>
    /// <param name="stops">The stop strings (non-empty).</param>
    public StopSequenceDetector(IReadOnlyList<string> stops)
    {
        ArgumentNullException.ThrowIfNull(stops);
        if (stops.Any(string.IsNullOrEmpty))
        {
            throw new ArgumentException("Stop strings must not be empty.", nameof(stops));
        }

        _stops = [.. stops];
        _longest = _stops.Length == 0 ? 0 : _stops.Max(s => s.Length);
    }

    /// <summary>Whether a stop sequence was found (later text is ignored).</summary>
    public bool Stopped { get; private set; }

    /// <summary>The stop string that matched, when <see cref="Stopped"/>.</summary>
    public string? MatchedStop { get; private set; }

    /// <summary>
    /// Adds newly decoded text; returns the text that is now safe to show (everything before a stop
    /// sequence, minus a tail that might begin one). Empty when nothing new is safe.
    /// </summary>
    /// <param name="text">The next piece of decoded output.</param>
    public string Append(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (Stopped || text.Length == 0)
        {
            return string.Empty;
        }

        if (_stops.Length == 0)
        {
            return text;
        }

        // Search only where a match can end in the new text: the held-back tail plus the new piece.
        int searchFrom = _pending.Length;
        _pending.Append(text);
        string buffer = _pending.ToString();
        int best = -1;
        foreach (var stop in _stops)
        {
            int start = Math.Max(0, searchFrom - stop.Length + 1);
            int at = buffer.IndexOf(stop, start, StringComparison.Ordinal);
            if (at >= 0 && (best < 0 || at < best))
            {
                best = at;
                MatchedStop = stop;
            }
        }

        if (best >= 0)
        {
            Stopped = true;
            _pending.Clear();
            return buffer[..best];
        }

        int hold = HeldBackLength(buffer);
        string safe = buffer[..(buffer.Length - hold)];
        _pending.Clear();
        _pending.Append(buffer, buffer.Length - hold, hold);
        return safe;
    }

    /// <summary>At the end of generation: the held-back text (it did not become a stop sequence).</summary>
    public string Flush()
    {
        if (Stopped)
        {
            return string.Empty;
        }

        string rest = _pending.ToString();
        _pending.Clear();
        return rest;
    }

    // Longest suffix of buffer that is a proper prefix of some stop string.
    private int HeldBackLength(string buffer)
    {
        int max = Math.Min(buffer.Length, _longest - 1);
        for (int len = max; len > 0; len--)
        {
            var tail = buffer.AsSpan(buffer.Length - len);
            foreach (var stop in _stops)
            {
                if (stop.Length > len && stop.AsSpan(0, len).SequenceEqual(tail))
                {
                    return len;
                }
            }
        }

        return 0;
    }
}
