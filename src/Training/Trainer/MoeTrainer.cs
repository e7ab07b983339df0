using System.Diagnostics;

using MoeServe.Model;
using MoeServe.Router;
using MoeServe.Training.Configuration;
using MoeServe.Training.Data;
using MoeServe.Training.Modeling;
using MoeServe.Training.Native;
using MoeServe.Training.Routing;

using TorchSharp;
using TorchSharp.Modules;

using static TorchSharp.torch;

namespace MoeServe.Training.Trainer;

/// <summary>
/// Owns the model, the optimizer, the per-layer routing and the running balance statistics of one
/// run, and performs optimizer steps and validation. Single-threaded: one step at a time.
/// </summary>
public sealed class MoeTrainer : IDisposable
{
    private readonly TokenBatches _batches;
    private readonly long[] _inputs;
    private readonly long[] _targets;
    private readonly TrainingData _data;
    private readonly OptimizerHelper _optimizer;

    /// <summary>Builds a fresh run: seeds torch, initialises the model, zero balancing state.</summary>
    /// <param name="options">Validated training options.</param>
    /// <param name="config">The architecture (vocabSize must cover the data's token ids).</param>
    /// <param name="data">Tokenised data.</param>
    /// <param name="state">Balancing state to start from (resume), or null.</param>
    public MoeTrainer(TrainingOptions options, ModelConfig config, TrainingData data, BalancingState? state = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(data);
        var errors = options.Validate(config.ContextLength).Concat(config.Validate()).ToList();
        if (data.VocabSize > config.VocabSize)
        {
            errors.Add($"vocabSize {config.VocabSize} is smaller than the tokenizer's {data.VocabSize}.");
        }

        ErrorList.ThrowInvalidArgumentIfAny("Invalid training setup", errors);

        LibTorchSharpCompatibility.EnsureLoadable();
        if (options.Threads > 0)
        {
            torch.set_num_threads(options.Threads);
        }

        Options = options;
        Config = config;
        _data = data;
        torch.random.manual_seed(options.Seed);
        Model = new MoeTransformer(config);
        Routing = LayerRouting.Create(options.Method, config.Layers, config.Experts, config.Renormalize, options.Bip, options.LossFree, state);
        _optimizer = torch.optim.AdamW(Model.parameters(), options.LearningRate, 0.9, 0.95, 1e-8, options.WeightDecay);
        _batches = new TokenBatches(data.Train, options.BatchSize, options.SequenceLength, options.Seed);
        _inputs = new long[options.BatchSize * options.SequenceLength];
        _targets = new long[_inputs.Length];
        Statistics = new BalanceStatistics(config.Layers);
    }

    /// <summary>The options.</summary>
    public TrainingOptions Options { get; }

    /// <summary>The architecture.</summary>
    public ModelConfig Config { get; }

    /// <summary>The model.</summary>
    public MoeTransformer Model { get; }

    /// <summary>Per-layer routing and balancing state.</summary>
    public LayerRouting Routing { get; }

    /// <summary>Steps completed.</summary>
    public long Step { get; internal set; }

    /// <summary>Running MaxVio and time statistics.</summary>
    public BalanceStatistics Statistics { get; }

    /// <summary>The optimizer (for checkpoints).</summary>
    internal OptimizerHelper Optimizer => _optimizer;

    /// <summary>
    /// Optional share (0..1) of another budget already used, e.g. of a wall-time limit: the cosine
    /// decay then follows whichever budget runs out first. Time-based progress is not reproducible,
    /// so a run that uses it resumes correctly but not bit-identically.
    /// </summary>
    public Func<double>? BudgetProgress { get; set; }

    /// <summary>The learning rate at a 0-based step: linear warm-up, then cosine to the floor.</summary>
    /// <param name="step">0-based step.</param>
    public double LearningRateAt(long step)
    {
        double peak = Options.LearningRate;
        if (step < Options.WarmupSteps)
        {
            return peak * (step + 1) / Options.WarmupSteps;
        }

        double span = Math.Max(1, Options.Steps - Options.WarmupSteps);
        double progress = Math.Clamp((step - Options.WarmupSteps) / span, 0, 1);
        if (BudgetProgress is not null)
        {
            progress = Math.Max(progress, Math.Clamp(BudgetProgress(), 0, 1));
        }

        double floor = peak * Options.MinLearningRateRatio;
        return floor + ((peak - floor) * 0.5 * (1 + Math.Cos(Math.PI * progress)));
    }

    /// <summary>Runs one optimizer step on the next batch.</summary>
    public StepResult TrainStep()
    {
        long start = Stopwatch.GetTimestamp();
        _batches.Fill(Step, _inputs, _targets);
        double lr = LearningRateAt(Step);
        foreach (var group in _optimizer.ParamGroups)
        {
            group.LearningRate = lr;
        }

        Model.train();
        double loss, auxLoss = 0;
        var maxVio = new double[Config.Layers];
        TimeSpan balancing;
        using (var scope = NewDisposeScope())
        using (var pass = new RoutingPass(Config.Layers, Config.Experts, Routing.Training, Options.Method == BalanceMethod.Aux ? Options.AuxAlpha : 0))
        {
            var inputs = tensor(_inputs, [Options.BatchSize, Options.SequenceLength]);
            var targets = tensor(_targets, [_targets.Length]);
            _optimizer.zero_grad();
            var logits = Model.Forward(inputs, pass);
            var ce = nn.functional.cross_entropy(logits.view(-1, Config.VocabSize), targets);
            var total = ce;
            var aux = pass.AuxiliaryLoss();
            if (aux is not null)
            {
                total = ce + aux;
                auxLoss = aux.item<float>();
            }

            total.backward();
            if (Options.GradientClip > 0)
            {
                nn.utils.clip_grad_norm_(Model.parameters(), Options.GradientClip);
            }

            _optimizer.step();
            loss = ce.item<float>();
            for (int l = 0; l < Config.Layers; l++)
            {
                maxVio[l] = pass.MaxVio(l);
            }

            balancing = pass.BalancingTime;
        }

        Routing.Average?.Update(Step);
        Step++;
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var result = new StepResult(Step, loss, auxLoss, lr, maxVio, _inputs.Length, seconds, balancing.TotalSeconds);
        Statistics.Record(result);
        return result;
    }

    /// <summary>
    /// Validation: mean cross-entropy and MaxVio_global over up to <see cref="TrainingOptions.ValidationTokens"/>
    /// tokens of the validation stream, routed with the balancing state frozen (as served).
    /// </summary>
    public EvaluationResult Evaluate()
    {
        int length = Options.SequenceLength;
        int[] tokens = _data.Validation;
        int windows = (tokens.Length - 1) / length;
        if (Options.ValidationTokens > 0)
        {
            windows = Math.Min(windows, Math.Max(1, Options.ValidationTokens / length));
        }

        if (windows < 1)
        {
            throw new InvalidOperationException($"The validation data has {tokens.Length} tokens: too few for one sequence of {length + 1}.");
        }

        var frozen = Routing.FrozenPolicies();
        var totals = new long[Config.Layers][];
        for (int l = 0; l < totals.Length; l++)
        {
            totals[l] = new long[Config.Experts];
        }

        double lossSum = 0;
        long count = 0;
        Model.eval();
        using (no_grad())
        {
            for (int first = 0; first < windows; first += Options.BatchSize)
            {
                int batch = Math.Min(Options.BatchSize, windows - first);
                var input = new long[batch * length];
                var target = new long[batch * length];
                for (int b = 0; b < batch; b++)
                {
                    int start = (first + b) * length;
                    for (int t = 0; t < length; t++)
                    {
                        input[(b * length) + t] = tokens[start + t];
                        target[(b * length) + t] = tokens[start + t + 1];
                    }
                }

                using var scope = NewDisposeScope();
                using var pass = new RoutingPass(Config.Layers, Config.Experts, l => frozen[l], 0);
                var logits = Model.Forward(tensor(input, [batch, length]), pass);
                var ce = nn.functional.cross_entropy(logits.view(-1, Config.VocabSize), tensor(target), reduction: nn.Reduction.Sum);
                lossSum += ce.item<float>();
                count += target.Length;
                for (int l = 0; l < Config.Layers; l++)
                {
                    var loads = pass.Loads[l];
                    for (int j = 0; j < loads.Length; j++)
                    {
                        totals[l][j] += loads[j];
                    }
                }
            }
        }

        Model.train();
        var maxVioGlobal = totals.Select(t => LoadStatistics.MaxViolation(t)).ToArray();
        return new EvaluationResult(lossSum / count, count, maxVioGlobal);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _optimizer.Dispose();
        Model.Dispose();
    }
}
