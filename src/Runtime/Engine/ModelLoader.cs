using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;
using MoeServe.Model;
using MoeServe.Router;
using MoeServe.Runtime.Experts;
using MoeServe.Runtime.Kernels;
using MoeServe.Runtime.Sessions;

namespace MoeServe.Runtime;

/// <summary>
/// Builds a <see cref="LoadedModel"/> from validated options: reads and checks the manifest, loads the
/// tokenizer, and opens one session per graph on its device (CUDA or the CPU fallback). Every graph
/// is tried before failing, so one exception lists every missing or broken file; on failure nothing
/// opened so far is left undisposed.
/// </summary>
internal static partial class ModelLoader
{
    public static LoadedModel Load(RuntimeOptions options, ILogger logger, ICudaProbe? cudaProbe)
    {
        string directory = ResolveDirectory(options.ModelPath);
        var manifest = ModelManifest.Load(directory);
        var config = manifest.Config;
        ErrorList.ThrowInvalidArgumentIfAny("Invalid runtime options", DevicePlacement.Check(options, config.Experts));

        var tokenizer = ModelTokenizerLoader.Load(directory, manifest);

        int layers = config.Layers;
        int m = config.Experts;
        var qkv = new GraphSession?[layers];
        var post = new GraphSession?[layers];
        var shared = new GraphSession?[layers];
        var experts = new ExpertExecutor[layers][];
        var owned = new List<IDisposable>();

        // Only a model of 4-bit blocks of 32 at accuracy_level 4 can have experts the managed kernel runs (each
        // graph is then checked: copied GGUF blocks have no zero points even where the manifest's default has);
        // for any other model the expert graphs are not read twice.
        bool int4Kernel = options.Kernels == KernelChoice.Auto && Int4MatMul.IsAccelerated &&
            manifest.Quantization is { Mode: Model.Quantization.WeightQuantization.Int4, BlockSize: Int8Rows.BlockSize, AccuracyLevel: 4 };

        // Small float16 experts also get a managed kernel for decode's few rows, beside their sessions: the float16
        // copy it reads is half the float32 one ONNX Runtime folds the weights into (for large experts that second
        // copy would cost gigabytes, so they keep their sessions alone).
        bool halfKernel = options.Kernels == KernelChoice.Auto && HalfMatMul.IsAccelerated &&
            manifest.Quantization is null && manifest.WeightDType == TensorDType.Float16 && !ExpertScale.IsLarge(config);

        var factory = new SessionFactory(options with { IntraOpThreads = ExpertScale.IntraOpThreads(options, config, halfKernel) }, logger, cudaProbe);
        var breakers = options.Resilience.Enabled ? new DeviceCircuitBreakers(options, logger) : null;
        var errors = new List<string>();
        int mainDevice = options.Devices[0];
        GraphSession? Open(string file, int device, string[] inputs, string[] outputs, bool expert = false)
        {
            try
            {
                var session = new GraphSession(factory.Create(Path.Combine(directory, file), device, expert), file, inputs, outputs);
                owned.Add(session);
                return session;
            }
            catch (Exception ex) when (ex is OnnxRuntimeException or InvalidDataException or FileNotFoundException)
            {
                errors.Add($"{file}: {ex.Message}");
                return null;
            }
        }

        int managedExperts = 0;
        int fewRowExperts = 0;
        int totalGraphs = 2 + (layers * (2 + m)) + manifest.Graphs.Layers.Count(l => l.Shared is not null);
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        var lastReport = TimeSpan.Zero;
        try
        {
            var embed = Open(manifest.Graphs.Embed, mainDevice, [GraphNames.InputIds], [GraphNames.Hidden]);
            var head = Open(manifest.Graphs.Head, mainDevice, [GraphNames.Hidden], [GraphNames.Logits]);
            for (int l = 0; l < layers; l++)
            {
                var layer = manifest.Graphs.Layers[l];
                qkv[l] = Open(layer.Qkv, mainDevice, [GraphNames.Hidden, GraphNames.Positions], [GraphNames.Query, GraphNames.Key, GraphNames.Value]);
                post[l] = Open(layer.Post, mainDevice, [GraphNames.Hidden, GraphNames.Attention], [GraphNames.Residual, GraphNames.FfnInput, GraphNames.RouterLogits]);
                if (layer.Shared is not null)
                {
                    shared[l] = Open(layer.Shared, mainDevice, [GraphNames.ExpertInput], [GraphNames.ExpertOutput]);
                }

                experts[l] = new ExpertExecutor[m];
                for (int j = 0; j < m; j++)
                {
                    int device = DevicePlacement.DeviceOf(options, j);
                    string file = layer.Experts[j];
                    string path = Path.Combine(directory, file);
                    bool cpu = !factory.UsesCuda(device);
                    if (int4Kernel && cpu && SwiGluExpertGraph.TryLoadInt4(path, config.DModel) is { } managed)
                    {
                        experts[l][j] = new ExpertExecutor(l, j, managed);
                        owned.Add(experts[l][j]);
                        managedExperts++;
                        continue;
                    }

                    var primary = Open(file, device, [GraphNames.ExpertInput], [GraphNames.ExpertOutput], expert: true);
                    if (primary is null)
                    {
                        continue;
                    }

                    var fewRowKernel = halfKernel && cpu ? SwiGluExpertGraph.TryLoadHalf(path, config.DModel) : null;
                    fewRowExperts += fewRowKernel is null ? 0 : 1;
                    var executor = new ExpertExecutor(
                        l,
                        j,
                        device,
                        primary,
                        () => new GraphSession(factory.CreateCpu(path, expert: true), file, [GraphNames.ExpertInput], [GraphNames.ExpertOutput]),
                        breakers?.For(device),
                        options.FaultInjector,
                        fewRowKernel);

                    // The executor now owns its primary session (and the fallback it may create).
                    owned.Remove(primary);
                    owned.Add(executor);
                    experts[l][j] = executor;
                }

                var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started);
                if (options.LoadProgress is { } progress && elapsed - lastReport >= options.LoadProgressInterval)
                {
                    lastReport = elapsed;
                    progress.Report(new ModelLoadProgress(l + 1, layers, owned.Count, totalGraphs, elapsed));
                }
            }

            if (errors.Count > 0)
            {
                throw new InvalidDataException(ErrorList.Format($"Cannot load model '{directory}'", errors));
            }

            var devices = options.Devices
                .Select(d => factory.Report(d, layers * Enumerable.Range(0, m).Count(j => DevicePlacement.DeviceOf(options, j) == d)))
                .ToArray();
            // Small float16 models run their dense graphs in managed code on steps of few tokens, 4-bit ones on every
            // step: there the sessions, checked against, are released.
            var fewRows = (halfKernel || int4Kernel) && !factory.UsesCuda(mainDevice)
                ? FewRowDense.TryLoad(directory, manifest, embed!, qkv!, post!, head!)
                : null;
            int released = 0;
            GraphSession? ReleaseIf(bool replaced, GraphSession? session)
            {
                if (!replaced || session is null)
                {
                    return session;
                }

                owned.Remove(session);
                session.Dispose();
                released++;
                return null;
            }

            if (fewRows is { EveryStep: true })
            {
                for (int l = 0; l < layers; l++)
                {
                    qkv[l] = ReleaseIf(fewRows.Qkv[l] is not null, qkv[l]);
                    post[l] = ReleaseIf(fewRows.Post[l] is not null, post[l]);
                }

                head = ReleaseIf(fewRows.Head is not null, head);
            }

            var graphs = new ModelGraphs(embed!, head, qkv, post, shared, experts, owned) { FewRows = fewRows };
            NativeHeap.Trim();
            LogLoaded(logger, manifest.Name, layers, m, string.Join(", ", devices.Select(d => $"{d.DeviceId}:{d.ProviderUsed}")), RoutingPolicyFactory.NameOf(options.Routing), options.ExpertWorkers, managedExperts, fewRowExperts, fewRows?.Graphs ?? 0);
            var resources = factory.Resources with { Graphs = totalGraphs, Sessions = factory.Resources.Sessions - released, ManagedExperts = managedExperts, ManagedFewRowExperts = fewRowExperts, ManagedFewRowDenseGraphs = fewRows?.Graphs ?? 0 };
            return new LoadedModel(directory, manifest, tokenizer, devices, graphs, resources);
        }
        catch
        {
            foreach (var session in owned)
            {
                session.Dispose();
            }

            throw;
        }
    }

    private static string ResolveDirectory(string modelPath)
    {
        string full = Path.GetFullPath(modelPath);
        if (File.Exists(full) && string.Equals(Path.GetFileName(full), ModelManifest.FileName, StringComparison.Ordinal))
        {
            return Path.GetDirectoryName(full)!;
        }

        if (!Directory.Exists(full))
        {
            throw new DirectoryNotFoundException($"modelPath: model directory not found: {modelPath} (expected models/NAME with a {ModelManifest.FileName}).");
        }

        return full;
    }

    [LoggerMessage(EventId = 1000, Level = LogLevel.Information, Message = "Loaded model {Model}: {Layers} layers x {Experts} experts; devices {Devices}; routing {Routing}; {Workers} expert workers; {ManagedExperts} experts in the managed int4 kernel, {FewRowExperts} experts and {FewRowDense} dense graphs with a managed float16 kernel for steps of few tokens.")]
    private static partial void LogLoaded(ILogger logger, string model, int layers, int experts, string devices, string routing, int workers, int managedExperts, int fewRowExperts, int fewRowDense);
}
