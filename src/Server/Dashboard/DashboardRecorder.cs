using MoeServe.Runtime;

namespace MoeServe.Server.Dashboard;

/// <summary>One second of dashboard history.</summary>
/// <param name="UnixSeconds">Start of the second.</param>
/// <param name="Steps">Engine steps in it.</param>
/// <param name="GeneratedTokens">Tokens generated in it.</param>
/// <param name="ProcessedTokens">Tokens through the engine (prefill plus decode).</param>
/// <param name="MeanMaxVio">Per layer: mean MaxVio over the second's steps.</param>
/// <param name="MaxMaxVio">Per layer: worst MaxVio of the second's steps.</param>
public sealed record DashboardPoint(long UnixSeconds, int Steps, long GeneratedTokens, long ProcessedTokens, IReadOnlyList<double> MeanMaxVio, IReadOnlyList<double> MaxMaxVio);

/// <summary>What GET /dashboard/data returns.</summary>
public sealed record DashboardSnapshot(
    string Model,
    string RoutingPolicy,
    int Layers,
    int Experts,
    int TopK,
    int Running,
    int Waiting,
    long TotalSteps,
    long TotalGeneratedTokens,
    IReadOnlyList<IReadOnlyList<long>> ExpertLoadTotal,
    IReadOnlyList<IReadOnlyList<long>> ExpertLoadRecent,
    int RecentSeconds,
    IReadOnlyList<DashboardPoint> History,
    string ServedQ = "");

/// <summary>
/// Keeps the server's own recent history for the live page: per-second buckets of steps, tokens and
/// MaxVio, and expert loads (all time and over the recent window). Thread-safe: the batching loop
/// writes, HTTP requests read.
/// </summary>
public sealed class DashboardRecorder
{
    /// <summary>Seconds of expert load the "recent" heat map sums over.</summary>
    public const int RecentSeconds = 30;

    private readonly Lock _gate = new();
    private readonly TimeProvider _time;
    private readonly int _historySeconds;
    private readonly LinkedList<Bucket> _buckets = new();
    private long[][] _totalLoad = [];
    private int _layers;
    private int _experts;
    private int _topK;
    private string _model = "";
    private string _routing = "";
    private string _servedQ = "";
    private long _totalSteps;
    private long _totalGenerated;

    /// <summary>Creates a recorder keeping <paramref name="historySeconds"/> seconds.</summary>
    public DashboardRecorder(TimeProvider time, int historySeconds)
    {
        ArgumentNullException.ThrowIfNull(time);
        _time = time;
        _historySeconds = Math.Max(1, historySeconds);
    }

    /// <summary>Sets the model's shape once it is loaded; <paramref name="servedQ"/> says which q is served (source and scale).</summary>
    public void Initialise(string model, string routing, int layers, int experts, int topK, string servedQ = "")
    {
        lock (_gate)
        {
            _servedQ = servedQ;
            _model = model;
            _routing = routing;
            _layers = layers;
            _experts = experts;
            _topK = topK;
            _totalLoad = NewLoad(layers, experts);
        }
    }

    /// <summary>Adds one engine step.</summary>
    public void RecordStep(ForwardStatistics statistics, int generatedTokens)
    {
        ArgumentNullException.ThrowIfNull(statistics);
        var now = _time.GetUtcNow().ToUnixTimeSeconds();
        lock (_gate)
        {
            if (_layers == 0)
            {
                return;
            }

            var bucket = _buckets.Last?.Value;
            if (bucket is null || bucket.UnixSeconds != now)
            {
                bucket = new Bucket(now, _layers, _experts);
                _buckets.AddLast(bucket);
                while (_buckets.Count > 0 && _buckets.First!.Value.UnixSeconds <= now - _historySeconds)
                {
                    _buckets.RemoveFirst();
                }
            }

            bucket.Steps++;
            bucket.Generated += generatedTokens;
            bucket.Processed += statistics.Tokens;
            _totalSteps++;
            _totalGenerated += generatedTokens;
            for (var l = 0; l < _layers && l < statistics.Layers; l++)
            {
                var vio = statistics.MaxVio(l);
                bucket.MaxVioSum[l] += vio;
                bucket.MaxVioMax[l] = Math.Max(bucket.MaxVioMax[l], vio);
                var tokens = statistics.ExpertTokens(l);
                for (var e = 0; e < _experts && e < tokens.Length; e++)
                {
                    bucket.Load[l][e] += tokens[e];
                    _totalLoad[l][e] += tokens[e];
                }
            }
        }
    }

    /// <summary>The current picture, with the queue sizes passed in.</summary>
    public DashboardSnapshot Snapshot(int running, int waiting)
    {
        var now = _time.GetUtcNow().ToUnixTimeSeconds();
        lock (_gate)
        {
            var recent = NewLoad(_layers, _experts);
            var history = new List<DashboardPoint>(_buckets.Count);
            foreach (var b in _buckets)
            {
                if (b.UnixSeconds > now - RecentSeconds)
                {
                    for (var l = 0; l < _layers; l++)
                    {
                        for (var e = 0; e < _experts; e++)
                        {
                            recent[l][e] += b.Load[l][e];
                        }
                    }
                }

                history.Add(new DashboardPoint(
                    b.UnixSeconds,
                    b.Steps,
                    b.Generated,
                    b.Processed,
                    b.MaxVioSum.Select(s => b.Steps > 0 ? s / b.Steps : 0).ToArray(),
                    [.. b.MaxVioMax]));
            }

            return new DashboardSnapshot(
                _model,
                _routing,
                _layers,
                _experts,
                _topK,
                running,
                waiting,
                _totalSteps,
                _totalGenerated,
                _totalLoad.Select(row => (IReadOnlyList<long>)[.. row]).ToArray(),
                recent.Select(row => (IReadOnlyList<long>)row).ToArray(),
                RecentSeconds,
                history,
                _servedQ);
        }
    }

    private static long[][] NewLoad(int layers, int experts) =>
        Enumerable.Range(0, layers).Select(_ => new long[experts]).ToArray();

    private sealed class Bucket(long unixSeconds, int layers, int experts)
    {
        public long UnixSeconds { get; } = unixSeconds;

        public int Steps { get; set; }

        public long Generated { get; set; }

        public long Processed { get; set; }

        public double[] MaxVioSum { get; } = new double[layers];

        public double[] MaxVioMax { get; } = new double[layers];

        public long[][] Load { get; } = NewLoad(layers, experts);
    }
}
