using System.Diagnostics;
using MoeServe.Runtime.Sessions;

namespace MoeServe.Runtime;

/// <summary>Runs one expert over all the tokens routed to it (item m: the shared expert over all tokens).</summary>
internal sealed class ExpertPhase(StepContext context) : IWorkBody
{
    private int _layer;
    private int _total;

    public void Begin(int layer, int total)
    {
        _layer = layer;
        _total = total;
    }

    public void End()
    {
    }

    public void Execute(int item, int worker)
    {
        var ws = context.Workspace;
        int d = context.Config.DModel;
        long start = Stopwatch.GetTimestamp();
        if (item == context.Config.Experts)
        {
            var slot = context.Slots[worker];
            slot.RowsD[0] = _total;
            slot.RowsD[1] = d;
            try
            {
                slot.One[0] = GraphSession.Float(ws.FfnInput, 0, slot.RowsD);
                slot.OneOut[0] = GraphSession.Float(ws.SharedOut, 0, slot.RowsD);
                context.Graphs.Shared[_layer]!.Run(context.RunOptions, slot.One, slot.OneOut);
            }
            finally
            {
                WorkerSlots.DisposeAll(slot.One);
                WorkerSlots.DisposeAll(slot.OneOut);
            }

            return;
        }

        var plan = context.Plan;
        int offset = plan.Offsets[item];
        var tokens = plan.TokensOf(item);
        var gathered = ws.GatherIn.AsSpan(offset * d, tokens.Length * d);
        for (int r = 0; r < tokens.Length; r++)
        {
            ws.FfnInput.AsSpan(tokens[r] * d, d).CopyTo(gathered.Slice(r * d, d));
        }

        context.RunExpert(_layer, item, worker, offset, tokens.Length, start);
    }
}

/// <summary>The per-token baseline: one Run of one expert for one (token, expert) assignment.</summary>
internal sealed class PerTokenPhase(StepContext context) : IWorkBody
{
    private int _layer;

    public void Begin(int layer) => _layer = layer;

    public void End()
    {
    }

    public void Execute(int item, int worker)
    {
        var ws = context.Workspace;
        int d = context.Config.DModel;
        int expert = ws.ExpertOfRow[item];
        int token = context.Plan.TokenIndices[item];
        long start = Stopwatch.GetTimestamp();
        ws.FfnInput.AsSpan(token * d, d).CopyTo(ws.GatherIn.AsSpan(item * d, d));
        context.RunExpert(_layer, expert, worker, item, 1, start);
    }
}
