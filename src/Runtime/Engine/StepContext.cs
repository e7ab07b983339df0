using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using MoeServe.Model;
using MoeServe.Router;
using MoeServe.Runtime.Sessions;

namespace MoeServe.Runtime;

/// <summary>
/// What the phases of a forward step share, handed to them explicitly: the model's sessions, the
/// step's buffers, each worker's scratch, the layer's dispatch plan and the Run options. Owns none of
/// them (<see cref="ForwardStep"/> and <see cref="ModelGraphs"/> do); it only counts the step's expert
/// Runs that fell back to CPU, which workers report concurrently.
/// </summary>
internal sealed class StepContext(ModelGraphs graphs, ModelConfig config, Workspace workspace, WorkerSlots[] slots, DispatchPlan plan, RunOptions runOptions)
{
    private int _fallbacks;

    public ModelGraphs Graphs { get; } = graphs;

    public ModelConfig Config { get; } = config;

    public Workspace Workspace { get; } = workspace;

    /// <summary>Scratch per worker, indexed by the worker id the pool passes to a phase.</summary>
    public WorkerSlots[] Slots { get; } = slots;

    /// <summary>The current layer's token-to-expert assignment (rebuilt by the router each layer).</summary>
    public DispatchPlan Plan { get; } = plan;

    public RunOptions RunOptions { get; } = runOptions;

    /// <summary>Expert Runs of the current step that the CPU fallback produced.</summary>
    public int StepFallbacks => Volatile.Read(ref _fallbacks);

    public void BeginStep() => _fallbacks = 0;

    /// <summary>Adds an expert Run's time to its worker's row; counts it when the CPU fallback ran it.</summary>
    public void RecordExpertRun(int worker, int expert, long startTimestamp, bool fellBack)
    {
        Workspace.WorkerExpertSeconds[(worker * Config.Experts) + expert] += Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds;
        if (fellBack)
        {
            Interlocked.Increment(ref _fallbacks);
        }
    }

    /// <summary>
    /// Runs expert <paramref name="expert"/> of <paramref name="layer"/> over <paramref name="rows"/> rows
    /// of GatherIn from row <paramref name="offset"/> into the same rows of GatherOut, on
    /// <paramref name="worker"/>'s tensors, and records the Run (timed from <paramref name="startTimestamp"/>).
    /// </summary>
    public void RunExpert(int layer, int expert, int worker, int offset, int rows, long startTimestamp)
    {
        int d = Config.DModel;
        var slot = Slots[worker];
        var executor = Graphs.Experts[layer][expert];
        if (executor.Managed is { } managed && rows <= managed.MaxRows)
        {
            managed.Run(Workspace.GatherIn.AsSpan(offset * d, rows * d), rows, Workspace.GatherOut.AsSpan(offset * d, rows * d), slot.Experts);
            RecordExpertRun(worker, expert, startTimestamp, fellBack: false);
            return;
        }

        slot.RowsD[0] = rows;
        slot.RowsD[1] = d;
        try
        {
            slot.One[0] = GraphSession.Float(Workspace.GatherIn, offset * d, slot.RowsD);
            slot.OneOut[0] = GraphSession.Float(Workspace.GatherOut, offset * d, slot.RowsD);
            bool fellBack = executor.Run(RunOptions, slot.One, slot.OneOut);
            RecordExpertRun(worker, expert, startTimestamp, fellBack);
        }
        finally
        {
            WorkerSlots.DisposeAll(slot.One);
            WorkerSlots.DisposeAll(slot.OneOut);
        }
    }
}
