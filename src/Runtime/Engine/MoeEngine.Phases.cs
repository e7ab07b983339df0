using System.Diagnostics;
using MoeServe.Runtime.Sessions;

namespace MoeServe.Runtime;

public sealed partial class MoeEngine
{
    /// <summary>Runs one layer's dense graph (attention with the KV cache, norm, router logits) for one sequence.</summary>
    private sealed class DensePhase(MoeEngine engine) : IWorkBody
    {
        private ForwardItem[] _items = [];
        private int _count;

        public int Layer { get; set; }

        public void Begin(ReadOnlySpan<ForwardItem> batch)
        {
            if (_items.Length < batch.Length)
            {
                _items = new ForwardItem[engine.Options.MaxSequences];
            }

            batch.CopyTo(_items);
            _count = batch.Length;
        }

        public void End()
        {
            // Drop references to caches and token memory so the engine does not keep them alive.
            Array.Clear(_items, 0, _count);
            _count = 0;
        }

        public void Execute(int item, int worker)
        {
            var ws = engine._ws;
            var config = engine.Config;
            var slot = engine._slots[worker];
            var cache = _items[item].Cache;
            int t = _items[item].Tokens.Length;
            int p = cache.Length;
            int off = ws.TokenOffsets[item];
            int d = config.DModel;
            int l = Layer;
            slot.RowsD[0] = t;
            slot.RowsD[1] = d;
            slot.Rows[0] = t;
            slot.Bias[0] = t;
            slot.Bias[1] = p + t;
            slot.Past[0] = config.Heads;
            slot.Past[1] = p;
            slot.Past[2] = config.HeadDim;
            slot.Present[0] = config.Heads;
            slot.Present[1] = p + t;
            slot.Present[2] = config.HeadDim;
            slot.RowsM[0] = t;
            slot.RowsM[1] = config.Experts;
            var input = slot.DenseIn;
            var output = slot.DenseOut;
            try
            {
                input[0] = GraphSession.Float(ws.HiddenA, off * d, slot.RowsD);
                input[1] = GraphSession.Int64(ws.Positions, off, slot.Rows);
                input[2] = GraphSession.Float(ws.Bias, ws.BiasOffsets[item], slot.Bias);
                input[3] = GraphSession.Float(cache.PastKey(l), 0, slot.Past);
                input[4] = GraphSession.Float(cache.PastValue(l), 0, slot.Past);
                output[0] = GraphSession.Float(ws.HiddenB, off * d, slot.RowsD);
                output[1] = GraphSession.Float(ws.FfnInput, off * d, slot.RowsD);
                output[2] = GraphSession.Float(ws.RouterLogits, off * config.Experts, slot.RowsM);
                output[3] = GraphSession.Float(cache.PresentKey(l), 0, slot.Present);
                output[4] = GraphSession.Float(cache.PresentValue(l), 0, slot.Present);
                engine._dense[l].Run(engine._runOptions, input, output);
            }
            finally
            {
                WorkerSlots.DisposeAll(input);
                WorkerSlots.DisposeAll(output);
            }
        }
    }

    /// <summary>Runs one expert over all the tokens routed to it (item m: the shared expert over all tokens).</summary>
    private sealed class ExpertPhase(MoeEngine engine) : IWorkBody
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
            var ws = engine._ws;
            int d = engine.Config.DModel;
            int m = engine.Config.Experts;
            var slot = engine._slots[worker];
            long start = Stopwatch.GetTimestamp();
            try
            {
                if (item == m)
                {
                    slot.RowsD[0] = _total;
                    slot.RowsD[1] = d;
                    slot.One[0] = GraphSession.Float(ws.FfnInput, 0, slot.RowsD);
                    slot.OneOut[0] = GraphSession.Float(ws.SharedOut, 0, slot.RowsD);
                    engine._shared[_layer]!.Run(engine._runOptions, slot.One, slot.OneOut);
                    return;
                }

                var plan = engine._plan;
                int offset = plan.Offsets[item];
                var tokens = plan.TokensOf(item);
                var gathered = ws.GatherIn.AsSpan(offset * d, tokens.Length * d);
                for (int r = 0; r < tokens.Length; r++)
                {
                    ws.FfnInput.AsSpan(tokens[r] * d, d).CopyTo(gathered.Slice(r * d, d));
                }

                slot.RowsD[0] = tokens.Length;
                slot.RowsD[1] = d;
                slot.One[0] = GraphSession.Float(ws.GatherIn, offset * d, slot.RowsD);
                slot.OneOut[0] = GraphSession.Float(ws.GatherOut, offset * d, slot.RowsD);
                bool fellBack = engine._experts[_layer][item].Run(engine._runOptions, slot.One, slot.OneOut);
                engine.RecordExpertRun(worker, item, start, fellBack);
            }
            finally
            {
                WorkerSlots.DisposeAll(slot.One);
                WorkerSlots.DisposeAll(slot.OneOut);
            }
        }
    }

    /// <summary>The per-token baseline: one Run of one expert for one (token, expert) assignment.</summary>
    private sealed class PerTokenPhase(MoeEngine engine) : IWorkBody
    {
        private int _layer;

        public void Begin(int layer) => _layer = layer;

        public void End()
        {
        }

        public void Execute(int item, int worker)
        {
            var ws = engine._ws;
            int d = engine.Config.DModel;
            var slot = engine._slots[worker];
            int expert = ws.ExpertOfRow[item];
            int token = engine._plan.TokenIndices[item];
            long start = Stopwatch.GetTimestamp();
            ws.FfnInput.AsSpan(token * d, d).CopyTo(ws.GatherIn.AsSpan(item * d, d));
            slot.RowsD[0] = 1;
            slot.RowsD[1] = d;
            try
            {
                slot.One[0] = GraphSession.Float(ws.GatherIn, item * d, slot.RowsD);
                slot.OneOut[0] = GraphSession.Float(ws.GatherOut, item * d, slot.RowsD);
                bool fellBack = engine._experts[_layer][expert].Run(engine._runOptions, slot.One, slot.OneOut);
                engine.RecordExpertRun(worker, expert, start, fellBack);
            }
            finally
            {
                WorkerSlots.DisposeAll(slot.One);
                WorkerSlots.DisposeAll(slot.OneOut);
            }
        }
    }
}
