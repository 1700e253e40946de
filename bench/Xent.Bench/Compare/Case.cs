namespace Xent.Bench.Compare;

/// <summary>One row pair of the comparison table (forward, then forward+backward).</summary>
internal sealed record Case(bool Nll, int Rows, int Classes, bool Weighted = false, float LabelSmoothing = 0f)
{
    public string Name
    {
        get
        {
            string name = $"{(Nll ? "NLL" : "CE")} {Rows}x{Classes}";
            if (Weighted)
            {
                name += " w";
            }

            if (LabelSmoothing != 0f)
            {
                name += $" ls={LabelSmoothing:0.##}";
            }

            return name;
        }
    }

    /// <summary>The shapes the brief asks for: a language-model vocabulary, an ImageNet head, a huge vocabulary.</summary>
    public static IReadOnlyList<Case> Full { get; } =
    [
        new(Nll: false, 4096, 32000),
        new(Nll: false, 4096, 32000, LabelSmoothing: 0.1f),
        new(Nll: false, 4096, 32000, Weighted: true),
        new(Nll: false, 16384, 1000),
        new(Nll: false, 64, 256000),
        new(Nll: true, 4096, 32000),
    ];

    /// <summary>The same mix, about an eighth of the bytes, for a check that runs in seconds.</summary>
    public static IReadOnlyList<Case> Quick { get; } =
    [
        new(Nll: false, 512, 32000),
        new(Nll: false, 512, 32000, LabelSmoothing: 0.1f),
        new(Nll: false, 512, 32000, Weighted: true),
        new(Nll: false, 2048, 1000),
        new(Nll: false, 8, 256000),
        new(Nll: true, 512, 32000),
    ];
}
