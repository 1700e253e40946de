using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Numerics;
using Xent.Cli.Npy;

namespace Xent.Cli;

internal enum LossKind
{
    Nll,
    CrossEntropy,
}

/// <summary><c>xent nll</c> and <c>xent cross-entropy</c>: read .npy files, call the library, write .npy files.</summary>
internal static class LossCommand
{
    private sealed record Settings(
        LossKind Kind, string Input, string Target, string? Weight, long IgnoreIndex, Reduction Reduction,
        double LabelSmoothing, string? Out, string? Grad, string? LogProb);

    public static Command Create(LossKind kind, TextWriter stdout)
    {
        bool ce = kind == LossKind.CrossEntropy;
        var command = new Command(ce ? "cross-entropy" : "nll", ce
            ? "Cross-entropy of logits INPUT against class indices (integer TARGET) or class probabilities (float TARGET)."
            : "Negative log-likelihood of log-probabilities INPUT against class indices TARGET.");
        var input = new Argument<string>("INPUT") { Description = "Input .npy: float16, float32 or float64, shape (C), (N, C) or (N, C, d1, ..., dK)." };
        var target = new Argument<string>("TARGET") { Description = "Target .npy: int64, int32 or uint8 class indices" + (ce ? ", or floats of the input's shape (probabilities)." : ".") };
        var weight = new Option<string?>("--weight") { Description = "Class weights .npy, shape (C).", HelpName = "W.npy" };
        var ignoreIndex = new Option<long>("--ignore-index")
        {
            Description = "Target value that contributes nothing (any integer).", DefaultValueFactory = _ => -100, HelpName = "N",
            CustomParser = ParseIgnoreIndex,
        };
        var reduction = new Option<string>("--reduction") { Description = "none, mean or sum.", DefaultValueFactory = _ => "mean", HelpName = "none|mean|sum" };
        reduction.AcceptOnlyFromAmong("none", "mean", "sum");
        var labelSmoothing = new Option<double>("--label-smoothing")
        {
            Description = "Label smoothing in [0, 1].", DefaultValueFactory = _ => 0.0, HelpName = "F",
            CustomParser = ParseLabelSmoothing,
        };
        var output = new Option<string?>("--out") { Description = "Write the loss here (.npy, the input's dtype).", HelpName = "LOSS.npy" };
        var grad = new Option<string?>("--grad") { Description = "Write the gradient of the loss (of the sum of losses for none) w.r.t. the input here.", HelpName = "GRAD.npy" };
        var logProb = new Option<string?>("--log-prob") { Description = "Write the log-softmax of the input here.", HelpName = "LOGP.npy" };

        command.Arguments.Add(input);
        command.Arguments.Add(target);
        command.Options.Add(weight);
        command.Options.Add(ignoreIndex);
        command.Options.Add(reduction);
        if (ce)
        {
            command.Options.Add(labelSmoothing);
        }

        command.Options.Add(output);
        command.Options.Add(grad);
        if (ce)
        {
            command.Options.Add(logProb);
        }

        command.SetAction(parsed =>
        {
            var settings = new Settings(kind, parsed.GetValue(input)!, parsed.GetValue(target)!, parsed.GetValue(weight),
                parsed.GetValue(ignoreIndex), Reductions.Parse(parsed.GetValue(reduction)!),
                ce ? parsed.GetValue(labelSmoothing) : 0.0, parsed.GetValue(output), parsed.GetValue(grad),
                ce ? parsed.GetValue(logProb) : null);
            return Execute(settings, stdout);
        });
        return command;
    }

    /// <summary>Any 64-bit integer; the message names the option and the value, not a .NET type.</summary>
    internal static long ParseIgnoreIndex(ArgumentResult result)
    {
        string token = result.Tokens[0].Value;
        if (long.TryParse(token, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long value))
        {
            return value;
        }

        result.AddError($"--ignore-index must be an integer from {long.MinValue} to {long.MaxValue}, got '{token}'");
        return 0;
    }

    /// <summary>
    /// A number in [0, 1]. Checked here rather than by the library so that a bad value is a usage error (exit 2) found
    /// before any file is read; the message is PyTorch's. "inf" does not parse as a .NET number, so it is named as not a
    /// number; "nan" (any case) and "Infinity" do, and fail the range check.
    /// </summary>
    internal static double ParseLabelSmoothing(ArgumentResult result)
    {
        string token = result.Tokens[0].Value;
        if (!double.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out double value))
        {
            result.AddError($"--label-smoothing must be a number between 0.0 and 1.0, got '{token}'");
            return 0;
        }

        if (!(value >= 0 && value <= 1))
        {
            result.AddError("--label-smoothing: label_smoothing must be between 0.0 and 1.0. Got: " + value.ToString("R", CultureInfo.InvariantCulture));
        }

        return value;
    }

    private static int Execute(Settings s, TextWriter stdout)
    {
        CliFiles.CheckOutput(s.Out, "--out");
        CliFiles.CheckOutput(s.Grad, "--grad");
        CliFiles.CheckOutput(s.LogProb, "--log-prob");
        CliFiles.CheckDistinct([(s.Out, "--out"), (s.Grad, "--grad"), (s.LogProb, "--log-prob")],
            [(s.Input, "INPUT"), (s.Target, "TARGET"), (s.Weight, "--weight")]);

        NpyArray input = ReadNpy(s.Input, "input");
        NpyArray target = ReadNpy(s.Target, "target");
        NpyArray? weight = s.Weight is null ? null : ReadNpy(s.Weight, "weight");
        if (weight is not null && (!weight.IsFloat || weight.Shape.Length != 1))
        {
            throw new CliException($"weight must be a 1-D float array, got {CliFormat.Describe(weight)} in {s.Weight}");
        }

        return input.DType switch
        {
            NpyDType.Float16 => Run<Half>(s, input, target, weight, stdout),
            NpyDType.Float32 => Run<float>(s, input, target, weight, stdout),
            NpyDType.Float64 => Run<double>(s, input, target, weight, stdout),
            _ => throw new CliException($"input must hold float16, float32 or float64 values, got {CliFormat.Describe(input)} in {s.Input}"),
        };
    }

    private static int Run<T>(Settings s, NpyArray input, NpyArray target, NpyArray? weight, TextWriter stdout)
        where T : unmanaged
    {
        nint[] inputShape = ToNint(input.Shape);
        ReadOnlySpan<T> x = input.AsSpan<T>();
        // A weight file of shape (0) was still given: PyTorch's weight=torch.tensor([]), which the library rejects for
        // C >= 1 with PyTorch's message (an empty span alone would read as no weight).
        bool weightGiven = weight is not null;
        T[] w = weight is null ? [] : Convert<T>(weight);
        bool reduced = s.Reduction != Reduction.None;
        T[] grad = s.Grad is null ? [] : new T[x.Length];
        T[] loss;
        long[] lossShape;
        string targetKind;

        if (target.IsInteger)
        {
            nint[] targetShape = ToNint(target.Shape);
            loss = new T[reduced || input.Shape.Length == 1 ? 1 : target.Count];
            lossShape = reduced || input.Shape.Length == 1 ? [] : target.Shape;
            targetKind = "class indices";
            switch (target.DType)
            {
                case NpyDType.Int64: Compute(s, x, inputShape, target.AsSpan<long>(), targetShape, loss, w, weightGiven, grad); break;
                case NpyDType.Int32: Compute(s, x, inputShape, target.AsSpan<int>(), targetShape, loss, w, weightGiven, grad); break;
                case NpyDType.UInt8: Compute(s, x, inputShape, target.AsSpan<byte>(), targetShape, loss, w, weightGiven, grad); break;
                default: throw new CliException($"class targets must be int64, int32 or uint8, got {CliFormat.Describe(target)} in {s.Target}");
            }
        }
        else if (target.IsFloat)
        {
            if (s.Kind == LossKind.Nll)
            {
                throw new CliException($"nll needs integer class indices as target, got {CliFormat.Describe(target)} in {s.Target}");
            }

            if (!target.Shape.AsSpan().SequenceEqual(input.Shape))
            {
                throw new CliException($"a float target holds class probabilities and must have the input's shape {CliFormat.ShapeString(input.Shape)}, got {CliFormat.ShapeString(target.Shape)}");
            }

            lossShape = reduced || input.Shape.Length == 1 ? [] : [input.Shape[0], .. input.Shape[2..]];
            loss = new T[CliFormat.Count(lossShape)];
            targetKind = "class probabilities";
            Functional.CrossEntropy<T>(x, inputShape, Convert<T>(target), loss, s.Reduction, w, weightGiven, s.LabelSmoothing, grad, default, s.IgnoreIndex);
        }
        else
        {
            throw new CliException($"target must hold integer class indices or float probabilities, got {CliFormat.Describe(target)} in {s.Target}");
        }

        T[] logProb = [];
        if (s.LogProb is not null)
        {
            logProb = new T[x.Length];
            Functional.LogSoftmax<T>(x, inputShape, input.Shape.Length == 1 ? 0 : 1, logProb);
        }

        WriteOutputs([(s.Out, loss, lossShape), (s.Grad, grad, input.Shape), (s.LogProb, logProb, input.Shape)], () => CliFiles.ToStdout(stdout, () =>
        {
            stdout.WriteLine($"{(s.Kind == LossKind.Nll ? "nll" : "cross-entropy")}: input {CliFormat.ShapeString(input.Shape)} {input.DType.ToString().ToLowerInvariant()}, " +
                $"target {CliFormat.ShapeString(target.Shape)} {target.DType.ToString().ToLowerInvariant()} ({targetKind})");
            stdout.WriteLine($"  reduction {s.Reduction.ToPyTorchString()}, ignore_index {s.IgnoreIndex}" +
                (weight is null ? string.Empty : $", weight {CliFormat.ShapeString(weight.Shape)}") +
                // + 0.0: "-0" on the command line is 0.
                (s.Kind == LossKind.CrossEntropy ? $", label_smoothing {(s.LabelSmoothing + 0.0).ToString(CultureInfo.InvariantCulture)}" : string.Empty));
            stdout.WriteLine($"  loss {CliFormat.ShapeString(lossShape)} = {Preview(loss)}");
        }));
        return ExitCodes.Success;
    }

    private static void Compute<T, TTarget>(Settings s, ReadOnlySpan<T> x, nint[] inputShape, ReadOnlySpan<TTarget> target,
        nint[] targetShape, T[] loss, T[] weight, bool weightGiven, T[] grad)
        where T : unmanaged
        where TTarget : unmanaged, IBinaryInteger<TTarget>
    {
        if (s.Kind == LossKind.Nll)
        {
            Functional.NllLoss(x, inputShape, target, targetShape, loss, s.Reduction, weight, weightGiven, s.IgnoreIndex, grad, default);
        }
        else
        {
            Functional.CrossEntropy(x, inputShape, target, targetShape, loss, s.Reduction, weight, weightGiven, s.IgnoreIndex, s.LabelSmoothing, grad, default);
        }
    }

    private static NpyArray ReadNpy(string path, string what) => CliFiles.OpenInput(path, what, NpyReader.Read);

    /// <summary>
    /// Writes every requested output or none: each goes to its own temporary file first, then the summary is printed,
    /// and the renames happen only once all of that has succeeded, so a failure on the second output (a full disk, a
    /// directory made read-only meanwhile) or on standard output leaves the first untouched too, and no temporary file.
    /// </summary>
    private static void WriteOutputs<T>(ReadOnlySpan<(string? Path, T[] Data, long[] Shape)> outputs, Action print)
        where T : unmanaged
    {
        var files = new List<AtomicFile>(outputs.Length);
        AtomicFile? current = null;
        try
        {
            foreach ((string? path, T[] data, long[] shape) in outputs)
            {
                if (path is null)
                {
                    continue;
                }

                current = CliFiles.CreateOutput(path);
                files.Add(current);
                NpyWriter.Write<T>(current.Stream, data, shape);
                current.Flush();
            }

            current = null;
            print();
            foreach (AtomicFile file in files)
            {
                current = file;
                file.Commit();
            }
        }
        catch (Exception e) when (current is not null && e is IOException or UnauthorizedAccessException)
        {
            throw new CliException(current.Describe(e));
        }
        finally
        {
            foreach (AtomicFile file in files)
            {
                file.Dispose();
            }
        }
    }

    private static nint[] ToNint(long[] shape) => Array.ConvertAll(shape, d => (nint)d);

    /// <summary>Converts a float array to T, as PyTorch's <c>.to(dtype)</c> (round to nearest even).</summary>
    private static T[] Convert<T>(NpyArray array)
        where T : unmanaged
    {
        if (array.DType == DTypeOf<T>())
        {
            return array.AsSpan<T>().ToArray();
        }

        var result = new T[array.Count];
        for (long i = 0; i < array.Count; i++)
        {
            double v = array.DType switch
            {
                NpyDType.Float16 => (double)array.AsSpan<Half>()[(int)i],
                NpyDType.Float32 => array.AsSpan<float>()[(int)i],
                _ => array.AsSpan<double>()[(int)i],
            };
            result[i] = typeof(T) == typeof(Half) ? (T)(object)(Half)v : typeof(T) == typeof(float) ? (T)(object)(float)v : (T)(object)v;
        }

        return result;
    }

    private static NpyDType DTypeOf<T>() =>
        typeof(T) == typeof(Half) ? NpyDType.Float16 : typeof(T) == typeof(float) ? NpyDType.Float32 : NpyDType.Float64;

    private static string Preview<T>(T[] values)
        where T : unmanaged
    {
        static string Format(T v) => v switch
        {
            Half h => ((float)h).ToString("G6", CultureInfo.InvariantCulture),
            float f => f.ToString("G8", CultureInfo.InvariantCulture),
            double d => d.ToString("G12", CultureInfo.InvariantCulture),
            _ => v.ToString()!,
        };

        if (values.Length == 1)
        {
            return Format(values[0]);
        }

        IEnumerable<string> shown = values.Take(8).Select(Format);
        return "[" + string.Join(", ", shown) + (values.Length > 8 ? $", ... ({values.Length} values)]" : "]");
    }
}
