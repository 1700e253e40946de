using System.CommandLine;
using System.Globalization;

namespace Xent.Cli;

/// <summary><c>xent demo</c>: every example printed in the seed documents, run through the library and shown beside
/// the value the document prints, compared at the document's printed precision.</summary>
internal static class DemoCommand
{
    /// <summary>One example. It agrees when every value is within <see cref="Tolerance"/> of the document's: half a unit
    /// of its last printed decimal plus float32 rounding (a few parts in 10⁷), or, where the document's inputs were
    /// themselves printed rounded (003, 004), one unit of the last decimal.</summary>
    private sealed record Check(string Source, string What, double[] Xent, double[] Document, int Decimals, bool RoundedInputs = false)
    {
        public double Tolerance(double expected) =>
            RoundedInputs ? Math.Pow(10, -Decimals) : 0.5 * Math.Pow(10, -Decimals) + 1e-6 * Math.Abs(expected);

        public bool Agrees => Xent.Length == Document.Length && Xent.Zip(Document).All(p => Math.Abs(p.First - p.Second) <= Tolerance(p.Second));
    }

    public static Command Create(TextWriter stdout)
    {
        var command = new Command("demo", "Run every example of the seed documents (PyTorch, MindSpore, OneFlow) and compare with their printed values.");
        command.SetAction(_ => Run(stdout));
        return command;
    }

    private static int Run(TextWriter stdout)
    {
        List<Check> checks = [.. Examples()];
        stdout.WriteLine("Xent demo: the examples of the seed documents, computed by Xent and compared with the values they print.");
        stdout.WriteLine();
        string[][] rows =
        [
            ["source", "example", "Xent", "document", "ok"],
            .. checks.Select(c => new[] { c.Source, c.What, Format(c.Xent, c.Decimals), Format(c.Document, c.Decimals), c.Agrees ? "✓" : "✗" }),
        ];
        // Each column as wide as its longest cell, so that no row shifts the columns after a long name.
        int[] widths = [.. Enumerable.Range(0, 4).Select(j => rows.Max(row => row[j].Length))];
        foreach (string[] row in rows)
        {
            stdout.WriteLine(string.Join(" ", row.Take(4).Select((cell, j) => cell.PadRight(widths[j]))) + " " + row[4]);
        }

        int failures = checks.Count(c => !c.Agrees);

        stdout.WriteLine();
        stdout.WriteLine(failures == 0
            ? $"All {checks.Count} examples agree with their documents."
            : $"{failures} of {checks.Count} examples disagree with their documents.");
        return failures == 0 ? ExitCodes.Success : ExitCodes.BadData;
    }

    private static IEnumerable<Check> Examples()
    {
        // 000 (MindSpore vs torch.nn.NLLLoss): input (2, 2, 3, 3) from an unseeded randn, target zeros (2, 3, 3),
        // ignore_index = -110, reduction none. The printed output is −input[n, 0, i, j], so that plane is rebuilt from it
        // (class 1 gets other values, which must not matter) and Xent must print the document's output back.
        double[] printed000 =
        [
            0.7047795, 0.8196785, -0.7913506, 0.22157642, -0.18818447, -0.65975004, 1.7223285, -0.9269855, 0.46461168,
            0.21305805, -2.213903, 0.36110482, -0.1900587, -0.56938815, 0.12274747, 1.149195, -0.8739661, -1.7944012,
        ];
        var input000 = new float[36];
        for (int n = 0; n < 2; n++)
        {
            for (int k = 0; k < 9; k++)
            {
                input000[(n * 2 + 0) * 9 + k] = (float)-printed000[n * 9 + k];
                input000[(n * 2 + 1) * 9 + k] = 0.25f * k - n;
            }
        }

        var loss000 = new float[18];
        Functional.NllLoss<float, int>(input000, [2, 2, 3, 3], new int[18], [2, 3, 3], loss000, Reduction.None, ignoreIndex: -110);
        yield return new("000 MindSpore/torch nn.NLLLoss", "(2,2,3,3) ignore_index=-110 none, MindSpore", ToDouble(loss000), printed000, 7);
        yield return new("000 MindSpore/torch nn.NLLLoss", "same, as PyTorch prints it (4 decimals)", ToDouble(loss000),
            [.. printed000.Select(v => Math.Round(v, 4))], 4);

        // 001 (MindSpore vs torch.nn.CrossEntropyLoss): mean cross-entropy of a 3 × 5 input, in float64 (PyTorch) and float32 (MindSpore).
        double[] logits001 =
        [
            1.624, -0.611, -0.528, -1.072, 0.865,
            -2.301, 1.744, -0.761, 0.319, -0.249,
            1.462, -2.060, -0.322, -0.384, 1.133,
        ];
        var ce001 = new double[1];
        Functional.CrossEntropy<double, long>(logits001, [3, 5], [1, 0, 4], [3], ce001);
        yield return new("001 torch nn.CrossEntropyLoss", "3x5 logits, targets [1, 0, 4], mean, float64", ce001, [2.764], 3);
        float ce001f = Functional.CrossEntropy(Array.ConvertAll(logits001, v => (float)v), 5, [1, 0, 4], default);
        yield return new("001 MindSpore nn.CrossEntropyLoss", "same, float32 logits, int32 labels", [ce001f], [2.764], 3);

        // 002 (MindSpore ops.NLLLoss): returns (loss, total_weight).
        float[] logits002 = [0.5488135f, 0.71518934f, 0.60276335f, 0.5448832f, 0.4236548f, 0.6458941f];
        float[] weight002 = [0.3834415f, 0.79172504f];
        (float loss002, float total002) = Functional.NllLossWithTotalWeight<float, int>(logits002, [3, 2], [0, 0, 0], weight002);
        yield return new("002 MindSpore ops.NLLLoss", "3x2 logits, labels [0, 0, 0], weight, mean", [loss002], [-0.52507716], 8);
        yield return new("002 MindSpore ops.NLLLoss", "total_weight", [total002], [1.1503246], 7);

        // 003 (notes on torch NLLLoss and CrossEntropyLoss).
        float nll003 = Functional.NllLoss([-0.1187f, 0.2110f, 0.7463f], 3, [1], default);
        yield return new("003 torch.nn.NLLLoss notes", "[[-0.1187, 0.2110, 0.7463]], target [1]", [nll003], [-0.2110], 4, RoundedInputs: true);
        float[] output003 = [-0.1187f, 0.2110f, 0.7463f, -0.6136f, -0.1186f, 1.5565f];
        float mean003 = Functional.NllLoss(output003, 3, [2, 0], default);
        yield return new("003 torch.nn.NLLLoss notes", "2x3, targets [2, 0], mean", [mean003], [-0.0664], 4, RoundedInputs: true);
        var none003 = new float[2];
        Functional.NllLoss<float, long>(output003, [2, 3], [2, 0], [2], none003, Reduction.None);
        yield return new("003 torch.nn.NLLLoss notes", "same, reduction none", ToDouble(none003), [-0.7463, 0.6136], 4, RoundedInputs: true);
        float ce003 = Functional.CrossEntropy([1f, 2f, 3f], 3, [2], default);
        yield return new("003 torch.nn.CrossEntropyLoss notes", "[[1, 2, 3]], target [2] (= LogSoftmax+NLLLoss)", [ce003], [0.4076], 4, RoundedInputs: true);
        var logp003 = new float[3];
        Functional.LogSoftmax<float>([1f, 2f, 3f], [1, 3], 1, logp003);
        float nllOfLogp003 = Functional.NllLoss(logp003, 3, [2], default);
        yield return new("003 torch.nn.CrossEntropyLoss notes", "LogSoftmax then NLLLoss", [nllOfLogp003], [0.4076], 4, RoundedInputs: true);

        // 004 (OneFlow nn.NLLLoss).
        float[] input004 =
        [
            -0.1664078f, -1.7256707f, -0.14690138f,
            -0.21474946f, 0.53737473f, 0.99684894f,
            -1.135804f, -0.50371903f, 0.7645404f,
        ];
        var none004 = new float[3];
        Functional.NllLoss<float, int>(input004, [3, 3], [0, 1, 2], [3], none004, Reduction.None);
        yield return new("004 OneFlow nn.NLLLoss", "3x3, targets [0, 1, 2], none", ToDouble(none004), [0.1664, -0.5374, -0.7645], 4, RoundedInputs: true);
        var sum004 = new float[1];
        Functional.NllLoss<float, int>(input004, [3, 3], [0, 1, 2], [3], sum004, Reduction.Sum);
        yield return new("004 OneFlow nn.NLLLoss", "same, sum", ToDouble(sum004), [-1.1355], 4, RoundedInputs: true);
        var mean004 = new float[1];
        Functional.NllLoss<float, int>(input004, [3, 3], [0, 1, 2], [3], mean004, Reduction.Mean);
        yield return new("004 OneFlow nn.NLLLoss", "same, mean", ToDouble(mean004), [-0.3785], 4, RoundedInputs: true);
    }

    private static double[] ToDouble(float[] values) => Array.ConvertAll(values, v => (double)v);

    private static string Format(double[] values, int decimals)
    {
        string one(double v) => v.ToString("F" + decimals, CultureInfo.InvariantCulture);
        return values.Length == 1 ? one(values[0]) : values.Length <= 3
            ? "[" + string.Join(", ", values.Select(one)) + "]"
            : $"[{one(values[0])}, {one(values[1])}, ... {values.Length} values]";
    }
}
