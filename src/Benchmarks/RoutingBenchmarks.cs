using BenchmarkDotNet.Attributes;

using MoeServe.Router;

namespace MoeServe.Benchmarks;

/// <summary>
/// Routing one 4096 x 64 softmax batch with k = 8: plain top-K, biased top-K (a fixed q), and BIP
/// with T = 1, 2, 4 (default clip, order and statistic). One operation routes the whole batch;
/// ns per token = Mean / 4096.
/// </summary>
[MemoryDiagnoser]
public class RoutingBenchmarks
{
    private const int Tokens = 4096;
    private const int Experts = 64;
    private const int TopK = 8;

    private readonly RoutingShape _shape = new(Tokens, Experts, TopK);
    private float[] _scores = [];
    private int[] _experts = [];
    private float[] _gates = [];
    private TopKPolicy _topK = null!;
    private BiasedTopKPolicy _biased = null!;
    private BipBalancer _bip1 = null!;
    private BipBalancer _bip2 = null!;
    private BipBalancer _bip4 = null!;

    /// <summary>Builds a skewed softmax batch and warms the BIP states on it.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _scores = BenchmarkData.SoftmaxScores(Tokens, Experts, seed: 1);
        _experts = new int[_shape.AssignmentLength];
        _gates = new float[_shape.AssignmentLength];
        _topK = new TopKPolicy();
        _bip1 = new BipBalancer(new float[Experts], new BipOptions { Iterations = 1 });
        _bip2 = new BipBalancer(new float[Experts], new BipOptions { Iterations = 2 });
        _bip4 = new BipBalancer(new float[Experts], new BipOptions { Iterations = 4 });
        for (int i = 0; i < 20; i++)
        {
            _bip1.Route(_scores, _shape, _experts, _gates);
            _bip2.Route(_scores, _shape, _experts, _gates);
            _bip4.Route(_scores, _shape, _experts, _gates);
        }

        // A realistic trained q for the biased policy: the converged BIP state.
        _biased = new BiasedTopKPolicy(_bip4.Q);
    }

    /// <summary>Plain top-K (the baseline).</summary>
    [Benchmark(Baseline = true)]
    public void PlainTopK() => _topK.Route(_scores, _shape, _experts, _gates);

    /// <summary>Top-K of s - q with a fixed q (serving a trained state).</summary>
    [Benchmark]
    public void BiasedTopK() => _biased.Route(_scores, _shape, _experts, _gates);

    /// <summary>BIP, T = 1.</summary>
    [Benchmark]
    public void BipT1() => _bip1.Route(_scores, _shape, _experts, _gates);

    /// <summary>BIP, T = 2.</summary>
    [Benchmark]
    public void BipT2() => _bip2.Route(_scores, _shape, _experts, _gates);

    /// <summary>BIP, T = 4.</summary>
    [Benchmark]
    public void BipT4() => _bip4.Route(_scores, _shape, _experts, _gates);
}
