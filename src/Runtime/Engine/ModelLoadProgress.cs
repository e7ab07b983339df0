namespace MoeServe.Runtime;

/// <summary>How far a model load has come: reported after a layer's sessions are open, once the load has run a second.</summary>
/// <param name="Layer">Layers whose sessions are open.</param>
/// <param name="Layers">Layers of the model.</param>
/// <param name="Sessions">Sessions open so far (embedding and head included).</param>
/// <param name="TotalSessions">Sessions the model needs.</param>
/// <param name="Elapsed">Time since the load began.</param>
public sealed record ModelLoadProgress(int Layer, int Layers, int Sessions, int TotalSessions, TimeSpan Elapsed)
{
    /// <summary>One line for a console or a log: "layer 5/16, 330/1058 sessions, 4.1 s".</summary>
    public override string ToString() =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"layer {Layer}/{Layers}, {Sessions}/{TotalSessions} sessions, {Elapsed.TotalSeconds:0.0} s");
}
