namespace Xent.Bench.Agree;

/// <summary>Shrinks a failing case while it still fails: first to one position (a (1, C) problem, or (C) for a 1-D
/// input), then by dropping classes one at a time, then by replacing values with shorter ones, so that what is left
/// can be read and retyped.</summary>
internal static class Minimizer
{
    public static AgreeCase Minimize(AgreeCase c, Func<AgreeCase, bool> fails)
    {
        if (c.Positions > 1)
        {
            for (long p = 0; p < Math.Min(c.Positions, 4096); p++)
            {
                var one = OnePosition(c, p);
                if (fails(one))
                {
                    c = one;
                    break;
                }
            }
        }

        if (c.Positions > 1 && c.InputShape.Length > 2 && c.Batch > 1)
        {
            // One batch entry with its spatial positions (the K-dimensional kernels need D > 1 to be taken).
            for (long n = 0; n < c.Batch; n++)
            {
                var one = OneBatch(c, n);
                if (fails(one))
                {
                    c = one;
                    break;
                }
            }
        }

        if (c.Positions == 1)
        {
            for (int cls = c.C - 1; cls >= 0 && c.C > 1; cls--)
            {
                if (WithoutClass(c, cls) is { } smaller && fails(smaller))
                {
                    c = smaller;
                }
            }
        }

        // Shorter numbers: a few significant digits where that keeps the failure.
        foreach (int digits in new[] { 1, 2, 3, 4 })
        {
            bool changed = false;
            for (int i = 0; i < c.Input.Length; i++)
            {
                double v = c.Input[i];
                double shorter = AgreeCase.Round(c.Dtype, Short(v, digits));
                if (shorter != v && double.IsFinite(v))
                {
                    double[] input = (double[])c.Input.Clone();
                    input[i] = shorter;
                    var candidate = Copy(c, input: input);
                    if (fails(candidate))
                    {
                        c = candidate;
                        changed = true;
                    }
                }
            }

            if (!changed && digits > 2)
            {
                break;
            }
        }

        return c;
    }

    private static double Short(double v, int digits)
    {
        if (v == 0 || !double.IsFinite(v))
        {
            return v;
        }

        double scale = Math.Pow(10, digits - 1 - Math.Floor(Math.Log10(Math.Abs(v))));
        return Math.Round(v * scale) / scale;
    }

    /// <summary>The single-position case with classes 0 and <paramref name="other"/> swapped (weights, target and
    /// probabilities with them): the same problem up to the order of the classes.</summary>
    public static AgreeCase SwapClasses(AgreeCase c, int other)
    {
        void Swap(double[] a) => (a[0], a[other]) = (a[other], a[0]);
        double[] input = (double[])c.Input.Clone();
        Swap(input);
        double[] probs = (double[])c.Probabilities.Clone();
        if (probs.Length != 0)
        {
            Swap(probs);
        }

        double[]? weight = (double[]?)c.Weight?.Clone();
        if (weight is not null)
        {
            Swap(weight);
        }

        long[] target = c.Kind == LossKind.CeProb ? [] : [c.Target[0] == 0 ? other : c.Target[0] == other ? 0 : c.Target[0]];
        return Copy(c, input: input, probs: probs, target: target, weight: weight, dropWeight: weight is null);
    }

    private static AgreeCase OneBatch(AgreeCase c, long n)
    {
        long size = c.C * c.Inner;
        long[] shape = (long[])c.InputShape.Clone();
        shape[0] = 1;
        long[] targetShape = c.Kind == LossKind.CeProb ? [] : [1, .. c.TargetShape[1..]];
        bool perPosition = c.Reduction == Reduction.None;
        return Copy(c, input: c.Input.AsSpan((int)(n * size), (int)size).ToArray(), shape: shape, targetShape: targetShape,
            target: c.Kind == LossKind.CeProb ? [] : c.Target.AsSpan((int)(n * c.Inner), (int)c.Inner).ToArray(),
            probs: c.Kind == LossKind.CeProb ? c.Probabilities.AsSpan((int)(n * size), (int)size).ToArray() : [],
            gradOutput: perPosition ? c.GradOutput.AsSpan((int)(n * c.Inner), (int)c.Inner).ToArray() : c.GradOutput);
    }

    private static AgreeCase OnePosition(AgreeCase c, long p)
    {
        int classes = c.C;
        long inner = c.Inner, n = p / inner, k = p % inner;
        double[] input = new double[classes];
        double[] probs = c.Kind == LossKind.CeProb ? new double[classes] : [];
        for (int cls = 0; cls < classes; cls++)
        {
            input[cls] = c.Input[(n * classes + cls) * inner + k];
            if (probs.Length != 0)
            {
                probs[cls] = c.Probabilities[(n * classes + cls) * inner + k];
            }
        }

        bool perPosition = c.Reduction == Reduction.None && c.InputShape.Length > 1;
        return Copy(c, input: input, shape: [1, classes], targetShape: c.Kind == LossKind.CeProb ? [] : [1],
            target: c.Kind == LossKind.CeProb ? [] : [c.Target[p]], probs: probs,
            gradOutput: [c.GradOutput[perPosition ? p : 0]]);
    }

    private static AgreeCase? WithoutClass(AgreeCase c, int drop)
    {
        if (c.Kind != LossKind.CeProb && c.Target[0] == drop)
        {
            return null;
        }

        double[] Without(double[] a) => a.Where((_, i) => i != drop).ToArray();
        long[] target = c.Kind == LossKind.CeProb ? [] : [c.Target[0] > drop && c.Target[0] < c.C ? c.Target[0] - 1 : c.Target[0]];
        if (c.Kind != LossKind.CeProb && target[0] == c.IgnoreIndex && c.Target[0] != c.IgnoreIndex)
        {
            return null; // the shift would make it ignored
        }

        long[] shape = (long[])c.InputShape.Clone();
        shape[c.InputShape.Length == 1 ? 0 : 1] = c.C - 1;
        return Copy(c, input: Without(c.Input), shape: shape, target: target,
            probs: c.Kind == LossKind.CeProb ? Without(c.Probabilities) : [],
            weight: c.Weight is null ? null : Without(c.Weight), dropWeight: c.Weight is null);
    }

    private static AgreeCase Copy(AgreeCase c, double[]? input = null, long[]? shape = null, long[]? targetShape = null,
        long[]? target = null, double[]? probs = null, double[]? gradOutput = null, double[]? weight = null, bool dropWeight = false) => new()
    {
        Index = c.Index,
        Kind = c.Kind,
        Dtype = c.Dtype,
        TargetType = c.TargetType == TargetType.Byte && (shape ?? c.InputShape) is var s && s[s.Length == 1 ? 0 : 1] > 255 ? TargetType.Long : c.TargetType,
        InputShape = shape ?? c.InputShape,
        TargetShape = targetShape ?? c.TargetShape,
        Input = input ?? c.Input,
        Target = target ?? c.Target,
        Probabilities = probs ?? c.Probabilities,
        Weight = dropWeight ? null : weight ?? c.Weight,
        IgnoreIndex = c.IgnoreIndex,
        Reduction = c.Reduction,
        LabelSmoothing = c.LabelSmoothing,
        GradOutput = gradOutput ?? c.GradOutput,
        Threads = c.Threads,
        Notes = c.Notes,
    };
}
