namespace MoeServe.Runtime;

/// <summary>How far a model load has come: reported after a layer's graphs are loaded, once the load has run a second.</summary>
/// <param name="Layer">Layers whose graphs are loaded.</param>
/// <param name="Layers">Layers of the model.</param>
/// <param name="Graphs">Graphs loaded so far (embedding and head included), as sessions or managed experts.</param>
/// <param name="TotalGraphs">Graphs the model has.</param>
/// <param name="Elapsed">Time since the load began.</param>
public sealed record ModelLoadProgress(int Layer, int Layers, int Graphs, int TotalGraphs, TimeSpan Elapsed)
{
    /// <summary>One line for a console or a log: "layer 5/16, 330/1058 graphs, 4.1 s".</summary>
    public override string ToString() =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"layer {Layer}/{Layers}, {Graphs}/{TotalGraphs} graphs, {Elapsed.TotalSeconds:0.0} s");
}
