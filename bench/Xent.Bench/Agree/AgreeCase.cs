using System.Globalization;
using System.Text;

namespace Xent.Bench.Agree;

internal enum LossKind
{
    CeClass,
    CeProb,
    Nll,
}

internal enum ElementType
{
    F32,
    F64,
    F16,
    BF16,
}

internal enum TargetType
{
    Long,
    Int,
    Byte,
}

/// <summary>One randomized problem: everything both sides get, already rounded to the element type, so Xent and
/// libtorch see exactly the same numbers. Drawn from its own generator (seed, index), so one case can be rerun alone.</summary>
internal sealed class AgreeCase
{
    public required int Index { get; init; }
    public required LossKind Kind { get; init; }
    public required ElementType Dtype { get; init; }
    public TargetType TargetType { get; init; } = TargetType.Long;
    public required long[] InputShape { get; init; }

    /// <summary>Class targets' shape (the input's without the class dimension); empty for probability targets.</summary>
    public long[] TargetShape { get; init; } = [];
    public required double[] Input { get; init; }

    /// <summary>Class indices (class-target kinds), else empty.</summary>
    public long[] Target { get; init; } = [];

    /// <summary>Class probabilities with the input's shape (<see cref="LossKind.CeProb"/>), else empty.</summary>
    public double[] Probabilities { get; init; } = [];
    public double[]? Weight { get; init; }
    public long IgnoreIndex { get; init; } = -100;
    public required Reduction Reduction { get; init; }
    public double LabelSmoothing { get; init; }

    /// <summary>The upstream gradient: one value for mean and sum (and for a 1-D input), else one per position.</summary>
    public required double[] GradOutput { get; init; }
    public int Threads { get; init; } = 1;

    /// <summary>How the values were drawn, for the description: scale, offset, -inf, ignored fraction.</summary>
    public string Notes { get; init; } = "";

    /// <summary>Null for a valid case; otherwise what makes it invalid (both sides must reject it).</summary>
    public string? Invalid { get; init; }

    /// <summary>For an invalid case that libtorch accepts and Xent rejects by choice: why. Such a case is reported as a
    /// known difference, not a failure.</summary>
    public string? KnownDifference { get; init; }

    public int C => InputShape.Length == 1 ? (int)InputShape[0] : (int)InputShape[1];
    public long Batch => InputShape.Length == 1 ? 1 : InputShape[0];
    public long Inner => InputShape.Skip(2).Aggregate(1L, (a, b) => a * b);
    public long Positions => Batch * Inner;

    public string Describe()
    {
        var sb = new StringBuilder();
        sb.Append(Kind switch { LossKind.CeClass => "CE(class)", LossKind.CeProb => "CE(prob)", _ => "NLL" });
        sb.Append(' ').Append(Dtype.ToString().ToLowerInvariant());
        if (Kind != LossKind.CeProb)
        {
            sb.Append(" target ").Append(TargetType.ToString().ToLowerInvariant());
        }

        sb.Append(" input (").Append(string.Join(",", InputShape)).Append(')');
        sb.Append(" red=").Append(Reduction.ToString().ToLowerInvariant());
        if (Weight is not null)
        {
            sb.Append(" weight").Append(Weight.Any(w => w == 0) ? "(with zeros)" : "");
        }

        sb.Append(" ignore=").Append(IgnoreIndex);
        if (LabelSmoothing != 0)
        {
            sb.Append(" ls=").Append(LabelSmoothing.ToString(CultureInfo.InvariantCulture));
        }

        if (Notes.Length != 0)
        {
            sb.Append(' ').Append(Notes);
        }

        sb.Append(" threads=").Append(Threads);
        if (Invalid is not null)
        {
            sb.Append(" INVALID: ").Append(Invalid);
        }

        return sb.ToString();
    }

    public static double Round(ElementType dtype, double value) => dtype switch
    {
        ElementType.F64 => value,
        ElementType.F32 => (float)value,
        // Through float, as PyTorch converts double to half and bfloat16.
        ElementType.F16 => (double)(Half)(float)value,
        _ => (float)(BFloat16)(float)value,
    };

    /// <summary>The gap between <paramref name="value"/> and the next value of the type away from zero (its ulp).</summary>
    public static double Ulp(ElementType dtype, double value)
    {
        (int mantissaBits, int minExponent) = dtype switch
        {
            ElementType.F64 => (52, -1022),
            ElementType.F32 => (23, -126),
            ElementType.F16 => (10, -14),
            _ => (7, -126),
        };
        double a = Math.Abs(value);
        int e = a == 0 || double.IsInfinity(a) || double.IsNaN(a) ? minExponent : Math.Max(minExponent, Math.ILogB(a));
        return Math.ScaleB(1.0, e - mantissaBits);
    }

    /// <summary>Draws case <paramref name="index"/> of run <paramref name="seed"/>. A byte target type is drawn only when
    /// the classes and the ignore index fit in a byte.</summary>
    public static AgreeCase Draw(int seed, int index)
    {
        var r = new Random(unchecked(seed * 1_000_003 + index * 7919 + 17));
        double u = r.NextDouble();
        var kind = u < 0.45 ? LossKind.CeClass : u < 0.72 ? LossKind.CeProb : LossKind.Nll;
        u = r.NextDouble();
        var dtype = u < 0.55 ? ElementType.F32 : u < 0.7 ? ElementType.F64 : u < 0.85 ? ElementType.F16 : ElementType.BF16;

        u = r.NextDouble();
        int c = u < 0.8 ? r.Next(1, 71) : u < 0.9 ? r.Next(127, 131) : u < 0.95 ? 1000 : 5000;
        u = r.NextDouble();
        int rank = u < 0.15 ? 1 : u < 0.6 ? 2 : u < 0.85 ? 3 : 4;
        long[] shape = new long[rank];
        if (rank == 1)
        {
            shape[0] = c;
        }
        else
        {
            shape[0] = r.NextDouble() < 0.07 ? 0 : rank == 2 ? r.Next(1, c <= 70 ? 65 : 9) : r.Next(1, 6);
            shape[1] = c;
            for (int i = 2; i < rank; i++)
            {
                shape[i] = r.NextDouble() < 0.05 ? 0 : r.Next(1, 7);
            }

            // Keep cases small: libtorch calls on small tensors are fast, and many draws beat a few big ones.
            while (shape[0] > 1 && shape.Aggregate(1L, (a, b) => a * b) > 200_000)
            {
                shape[0] /= 2;
            }
        }

        long positions = rank == 1 ? 1 : shape[0] * shape.Skip(2).Aggregate(1L, (a, b) => a * b);
        long inner = shape.Skip(2).Aggregate(1L, (a, b) => a * b);
        long elements = positions * c;
        var notes = new List<string>();

        // Ignore index and the targets.
        long ignore = -100;
        long[] targetShape = rank == 1 ? [] : [shape[0], .. shape.Skip(2)];
        long[] target = [];
        double[] probs = [];
        bool[] ignored = new bool[positions];
        if (kind != LossKind.CeProb)
        {
            u = r.NextDouble();
            ignore = u < 0.4 ? -100 : u < 0.6 ? -1 : u < 0.85 ? r.Next(0, c) : c + 3;
            u = r.NextDouble();
            double fraction = u < 0.4 ? 0 : u < 0.85 ? 0.2 : u < 0.95 ? 0.5 : 1;
            if (fraction > 0)
            {
                notes.Add(fraction == 1 ? "all-ignored" : $"ignored~{fraction:0.0}");
            }

            target = new long[positions];
            for (long p = 0; p < positions; p++)
            {
                if (fraction == 1 || r.NextDouble() < fraction)
                {
                    target[p] = ignore;
                    ignored[p] = true;
                }
                else
                {
                    target[p] = r.Next(0, c);
                    ignored[p] = target[p] == ignore;
                }
            }
        }
        else
        {
            ignore = r.NextDouble() < 0.5 ? -100 : -1;
        }

        var targetType = TargetType.Long;
        if (kind != LossKind.CeProb)
        {
            u = r.NextDouble();
            if (u < 0.15)
            {
                targetType = TargetType.Int;
            }
            else if (u < 0.3 && c <= 255 && ignore is >= 0 and <= 255)
            {
                targetType = TargetType.Byte;
            }
        }

        // Values.
        double scale = new[] { 1.0, 5.0, 30.0 }[r.Next(3)];
        double offset = (dtype is ElementType.F32 or ElementType.F64) && r.NextDouble() < 0.1 ? 1e4 : 0;
        notes.Add($"scale={scale}");
        if (offset != 0)
        {
            notes.Add($"offset=+{offset:0}");
        }

        double[] input = new double[elements];
        for (long i = 0; i < elements; i++)
        {
            input[i] = Round(dtype, offset + scale * Normal(r));
        }

        // Probability targets.
        if (kind == LossKind.CeProb)
        {
            probs = new double[elements];
            u = r.NextDouble();
            string mode = u < 0.45 ? "normalized" : u < 0.75 ? "unnormalized" : "one-hot";
            notes.Add("probs=" + mode);
            for (long p = 0; p < positions; p++)
            {
                long n = p / inner, k = p % inner;
                long Index(long cls) => (n * c + cls) * inner + k;
                if (mode == "one-hot")
                {
                    probs[Index(r.Next(0, c))] = 1;
                    continue;
                }

                double total = 0;
                for (int cls = 0; cls < c; cls++)
                {
                    double v = mode == "normalized" ? Math.Exp(2 * Normal(r)) : 2 * r.NextDouble();
                    probs[Index(cls)] = v;
                    total += v;
                }

                for (int cls = 0; cls < c && mode == "normalized"; cls++)
                {
                    probs[Index(cls)] /= total;
                }
            }

            for (long i = 0; i < elements; i++)
            {
                probs[i] = Round(dtype, probs[i]);
            }
        }

        // -inf at some classes that are not the target (for probability targets: at classes of target 0 when one-hot,
        // anywhere otherwise, which makes the loss infinite).
        if (c >= 2 && r.NextDouble() < 0.12)
        {
            notes.Add("-inf");
            for (long p = 0; p < positions; p++)
            {
                long n = p / inner, k = p % inner;
                long keep = kind == LossKind.CeProb ? -1 : (!ignored[p] ? target[p] : r.Next(0, c));
                if (keep < 0)
                {
                    keep = r.Next(0, c);
                }

                for (int cls = 0; cls < c; cls++)
                {
                    if (cls != keep && r.NextDouble() < 0.2)
                    {
                        input[(n * c + cls) * inner + k] = double.NegativeInfinity;
                    }
                }
            }
        }

        // NaN, +inf or a huge finite logit at a few elements, ignored positions included, drawn from a generator of their
        // own so that the rest of every case stays what it was before they were added.
        var extra = new Random(unchecked(seed * 7_000_003 + index * 104_729 + 11));
        if (elements > 0 && extra.NextDouble() < 0.12)
        {
            int which = extra.Next(3);
            double huge = dtype == ElementType.F16 ? 60000 : 1e30;
            notes.Add(which switch { 0 => "nan", 1 => "+inf", _ => "huge" });
            int count = 1 + extra.Next(3);
            for (int j = 0; j < count; j++)
            {
                long at = extra.NextInt64(elements);
                input[at] = which switch
                {
                    0 => double.NaN,
                    1 => double.PositiveInfinity,
                    _ => Round(dtype, extra.Next(2) == 0 ? huge : -huge),
                };
            }
        }

        double[]? weight = null;
        if (r.NextDouble() < 0.4)
        {
            bool zeros = r.NextDouble() < 0.3;
            weight = new double[c];
            for (int cls = 0; cls < c; cls++)
            {
                weight[cls] = zeros && r.NextDouble() < 0.3 ? 0 : Round(dtype, 0.1 + 1.9 * r.NextDouble());
            }
        }

        var reduction = (Reduction)r.Next(3);
        double smoothing = 0;
        if (kind != LossKind.Nll && r.NextDouble() < 0.5)
        {
            smoothing = new[] { 0.05, 0.3, 1.0 }[r.Next(3)];
        }

        double[] gradOutput;
        if (reduction == Reduction.None && rank > 1)
        {
            gradOutput = new double[positions];
            for (long p = 0; p < positions; p++)
            {
                gradOutput[p] = Round(dtype, Normal(r));
            }
        }
        else
        {
            gradOutput = [Round(dtype, r.NextDouble() < 0.2 ? 1 : 0.25 + 1.75 * r.NextDouble() * (r.Next(2) == 0 ? -1 : 1))];
        }

        int threads = r.Next(1, 3);
        if (threads == 2)
        {
            // More workers than this machine's cores, too: the result must not depend on the count.
            threads = new[] { 2, 2, 3, 4, 8 }[extra.Next(5)];
        }
        var @case = new AgreeCase
        {
            Index = index,
            Kind = kind,
            Dtype = dtype,
            TargetType = targetType,
            InputShape = shape,
            TargetShape = kind == LossKind.CeProb ? [] : targetShape,
            Input = input,
            Target = target,
            Probabilities = probs,
            Weight = weight,
            IgnoreIndex = ignore,
            Reduction = reduction,
            LabelSmoothing = smoothing,
            GradOutput = gradOutput,
            Threads = threads,
            Notes = string.Join(' ', notes),
        };
        return @case;
    }

    /// <summary>An invalid variant of a valid draw: something both sides must reject.</summary>
    public static AgreeCase DrawInvalid(int seed, int index)
    {
        var r = new Random(unchecked(seed * 1_000_003 + index * 7919 + 23));
        AgreeCase baseCase;
        int attempt = 0;
        do
        {
            baseCase = Draw(seed ^ 0x5A5A, index * 31 + attempt++);
        }
        while (baseCase.Positions == 0 || baseCase.C > 1000 || baseCase.Input.Any(double.IsNegativeInfinity));

        int what = r.Next(5);
        if (what == 4 && baseCase.Kind != LossKind.CeProb)
        {
            what = r.Next(4);
        }

        if (what <= 1 && baseCase.Kind == LossKind.CeProb)
        {
            what = 4;
        }

        switch (what)
        {
            case 0:
            case 1:
            {
                // A target out of range that is not the ignore index.
                long bad = what == 0 ? baseCase.C : -5;
                if (bad == baseCase.IgnoreIndex)
                {
                    bad = baseCase.C + 1;
                }

                long[] target = (long[])baseCase.Target.Clone();
                target[r.Next(target.Length)] = bad;
                return With(baseCase, $"target {bad} with C={baseCase.C}, ignore_index {baseCase.IgnoreIndex}", target: target);
            }

            case 2:
            {
                // A target shape that does not fit: one more in the batch dimension, or an extra dimension.
                if (baseCase.Kind == LossKind.CeProb || baseCase.InputShape.Length == 1)
                {
                    goto case 3;
                }

                long[] shape = (long[])baseCase.TargetShape.Clone();
                shape[0] += 1;
                long[] target = new long[shape.Aggregate(1L, (a, b) => a * b)];
                for (int i = 0; i < target.Length; i++)
                {
                    target[i] = r.Next(baseCase.C);
                }

                return With(baseCase, $"target shape ({string.Join(",", shape)}) for input ({string.Join(",", baseCase.InputShape)})",
                    target: target, targetShape: shape);
            }

            case 3:
            {
                if (baseCase.Kind == LossKind.Nll)
                {
                    goto case 0;
                }

                // Above 1 only: a negative or NaN ε means no smoothing, in libtorch and in Xent.
                double eps = r.Next(2) == 0 ? double.PositiveInfinity : 1.5;
                return With(baseCase, $"label_smoothing {eps.ToString(CultureInfo.InvariantCulture)}", smoothing: eps);
            }

            default:
                return With(baseCase, "ignore_index 0 with probability targets", ignore: 0);
        }
    }

    private static AgreeCase With(AgreeCase b, string invalid, long[]? target = null, long[]? targetShape = null,
        double? smoothing = null, long? ignore = null, string? knownDifference = null) => new()
    {
        Index = b.Index,
        Kind = b.Kind,
        Dtype = b.Dtype,
        TargetType = TargetType.Long,
        InputShape = b.InputShape,
        TargetShape = targetShape ?? b.TargetShape,
        Input = b.Input,
        Target = target ?? b.Target,
        Probabilities = b.Probabilities,
        Weight = b.Weight,
        IgnoreIndex = ignore ?? b.IgnoreIndex,
        Reduction = b.Reduction,
        LabelSmoothing = smoothing ?? b.LabelSmoothing,
        GradOutput = b.GradOutput,
        Threads = b.Threads,
        Notes = b.Notes,
        Invalid = invalid,
        KnownDifference = knownDifference,
    };

    private static double Normal(Random r)
    {
        double u1 = 1.0 - r.NextDouble();
        double u2 = r.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
