using System.CommandLine;
using System.Globalization;
using System.Numerics;
using Spectre.Console;
using Xent.Cli.Npy;

namespace Xent.Cli.Eval;

/// <summary>The options of one <c>xent eval</c> run.</summary>
internal sealed record EvalSettings(
    string Logits, string Targets, string? Weight, long IgnoreIndex, double LabelSmoothing, bool Json, string? Report,
    int TopClasses, long? ChunkRows);

/// <summary>What one run found, with what is needed to print it.</summary>
internal sealed record EvalResult(EvalSettings Settings, MappedTensor Logits, MappedTensor Targets, EvalStats Stats,
    double MeanLoss, string MeanLossText, IReadOnlyList<ClassRow> WorstClasses);

/// <summary>
/// <c>xent eval LOGITS TARGETS</c>: the loss, perplexity and accuracy of a whole evaluation set, read from memory-mapped
/// .npy or .safetensors files a chunk of rows at a time, so the logits never have to fit in memory.
/// </summary>
/// <remarks>
/// Each chunk goes through the library twice: <see cref="Functional.CrossEntropy{T, TTarget}(ReadOnlySpan{T}, ReadOnlySpan{nint}, ReadOnlySpan{TTarget}, ReadOnlySpan{nint}, Span{T}, Reduction, ReadOnlySpan{T}, long, double, Span{T}, ReadOnlySpan{T})"/>
/// with <see cref="Reduction.None"/> for the per-position losses and <see cref="Functional.TargetRank{T, TTarget}"/> for
/// the top-k hits; this class only sums and prints. Float16 and bfloat16 logits are widened to float32 before the
/// calls, which is what the library does inside them, so the per-position losses are the float32 values the reduced
/// mean of <c>xent cross-entropy</c> sums rather than values rounded back to 16 bits.
/// </remarks>
internal static class EvalCommand
{
    /// <summary>Chunks hold about this many logits (16 MiB of float32) unless --chunk-rows says otherwise: large enough
    /// for the library's parallel kernels, small enough to stay in the last-level cache's neighbourhood.</summary>
    private const long DefaultChunkElements = 1 << 22;

    public static Command Create(TextWriter stdout)
    {
        var command = new Command("eval", "Loss, perplexity and top-1/top-5 accuracy of logits against class targets, read from .npy or .safetensors files in chunks (files may exceed memory).");
        var logits = new Argument<string>("LOGITS") { Description = "Logits: file.npy, file.safetensors:NAME (or file.safetensors holding one tensor); float16, bfloat16, float32 or float64, shape (N, C) or (N, C, d1, ..., dK)." };
        var targets = new Argument<string>("TARGETS") { Description = "Class indices, same forms: int64, int32 or uint8, shape (N) or (N, d1, ..., dK)." };
        var weight = new Option<string?>("--weight") { Description = "Class weights .npy, shape (C).", HelpName = "W.npy" };
        var ignoreIndex = new Option<long>("--ignore-index")
        {
            Description = "Target value that is not evaluated (any integer).", DefaultValueFactory = _ => -100, HelpName = "N",
            CustomParser = LossCommand.ParseIgnoreIndex,
        };
        var labelSmoothing = new Option<double>("--label-smoothing")
        {
            Description = "Label smoothing in [0, 1] applied to the loss.", DefaultValueFactory = _ => 0.0, HelpName = "F",
            CustomParser = LossCommand.ParseLabelSmoothing,
        };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of the text summary." };
        var report = new Option<string?>("--report") { Description = "Also write a self-contained HTML report here.", HelpName = "report.html" };
        var topClasses = new Option<int>("--top-classes")
        {
            Description = "How many of the worst classes (by mean loss) to list.", DefaultValueFactory = _ => 10, HelpName = "K",
            CustomParser = r => (int)ParseCount(r, "--top-classes", 0, int.MaxValue),
        };
        var chunkRows = new Option<long?>("--chunk-rows")
        {
            Description = "Rows (samples) per chunk; by default about 4M logits per chunk.", HelpName = "R",
            CustomParser = r => ParseCount(r, "--chunk-rows", 1, long.MaxValue),
        };
        command.Arguments.Add(logits);
        command.Arguments.Add(targets);
        command.Options.Add(weight);
        command.Options.Add(ignoreIndex);
        command.Options.Add(labelSmoothing);
        command.Options.Add(json);
        command.Options.Add(report);
        command.Options.Add(topClasses);
        command.Options.Add(chunkRows);
        command.SetAction(parsed => Execute(
            new EvalSettings(parsed.GetValue(logits)!, parsed.GetValue(targets)!, parsed.GetValue(weight),
                parsed.GetValue(ignoreIndex), parsed.GetValue(labelSmoothing), parsed.GetValue(json),
                parsed.GetValue(report), parsed.GetValue(topClasses), parsed.GetValue(chunkRows)),
            stdout));
        return command;
    }

    internal static int Execute(EvalSettings s, TextWriter stdout)
    {
        if (s.TopClasses < 0)
        {
            throw new CliException($"--top-classes must be 0 or more, got {s.TopClasses}", ExitCodes.Usage);
        }

        if (s.ChunkRows is <= 0)
        {
            throw new CliException($"--chunk-rows must be positive, got {s.ChunkRows}", ExitCodes.Usage);
        }

        CliFiles.CheckOutput(s.Report, "--report");
        CliFiles.CheckDistinct([(s.Report, "--report")],
            [(MappedTensor.Split(s.Logits).Path, "LOGITS"), (MappedTensor.Split(s.Targets).Path, "TARGETS"), (s.Weight, "--weight")]);
        using MappedTensor logits = MappedTensor.Open(s.Logits, "logits");
        using MappedTensor targets = MappedTensor.Open(s.Targets, "targets");
        CheckShapes(logits, targets);
        NpyArray? weight = s.Weight is null ? null : ReadWeight(s.Weight);

        // A progress bar only for a person watching: not when stdout is a file or a pipe, not for --json, not in tests.
        bool progress = !s.Json && ReferenceEquals(stdout, Console.Out) && !Console.IsOutputRedirected;
        EvalResult result = logits.Kind switch
        {
            ElementKind.Float16 => ByTarget<Half, float>(s, logits, targets, weight, progress),
            ElementKind.BFloat16 => ByTarget<BFloat16, float>(s, logits, targets, weight, progress),
            ElementKind.Float32 => ByTarget<float, float>(s, logits, targets, weight, progress),
            _ => ByTarget<double, double>(s, logits, targets, weight, progress),
        };

        // The report goes to a temporary file, the summary to stdout, and only then is the report renamed into place:
        // a failure in either leaves no report (and no temporary file).
        using AtomicFile? report = s.Report is null ? null : EvalOutput.CreateHtml(s.Report, result);
        CliFiles.ToStdout(stdout, () =>
        {
            if (s.Json)
            {
                EvalOutput.WriteJson(stdout, result);
            }
            else
            {
                EvalOutput.WriteText(stdout, result);
            }
        });
        if (report is not null)
        {
            try
            {
                report.Commit();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new CliException(report.Describe(e));
            }
        }

        return ExitCodes.Success;
    }

    private static EvalResult ByTarget<TS, TC>(EvalSettings s, MappedTensor logits, MappedTensor targets, NpyArray? weight, bool progress)
        where TS : unmanaged
        where TC : unmanaged, IFloatingPointIeee754<TC>
    {
        return targets.Kind switch
        {
            ElementKind.Int64 => Evaluate<TS, TC, long>(s, logits, targets, weight, progress),
            ElementKind.Int32 => Evaluate<TS, TC, int>(s, logits, targets, weight, progress),
            _ => Evaluate<TS, TC, byte>(s, logits, targets, weight, progress),
        };
    }

    private static EvalResult Evaluate<TS, TC, TTarget>(EvalSettings s, MappedTensor logits, MappedTensor targets, NpyArray? weight, bool progress)
        where TS : unmanaged
        where TC : unmanaged, IFloatingPointIeee754<TC>
        where TTarget : unmanaged, IBinaryInteger<TTarget>
    {
        long n = logits.Shape[0];
        int c = (int)logits.Shape[1];
        long d = logits.Count / Math.Max(1, n * c);
        if (n * c == 0)
        {
            d = targets.Shape.Skip(1).Aggregate(1L, (a, b) => a * b);
        }

        long rows = ChunkRows(s.ChunkRows, c, d);
        TC[] w = weight is null ? [] : WidenWeight<TS, TC>(weight);
        var stats = new EvalStats(c, w.Length == 0 ? null : Array.ConvertAll(w, double.CreateTruncating));

        nint[] shape = [.. logits.Shape.Select(x => (nint)x)];
        nint[] targetShape = [.. targets.Shape.Select(x => (nint)x)];

        // Validate the options (weight length, smoothing) with the library's messages even when there are no rows; a
        // weight file of shape (0) was still given (PyTorch's weight=torch.tensor([]), an error for C >= 1).
        shape[0] = 0;
        targetShape[0] = 0;
        Functional.CrossEntropy<TC, TTarget>(ReadOnlySpan<TC>.Empty, shape, ReadOnlySpan<TTarget>.Empty, targetShape, Span<TC>.Empty,
            Reduction.None, w, weightGiven: weight is not null, s.IgnoreIndex, s.LabelSmoothing, default, default);

        int chunkPositions = (int)(Math.Min(rows, n) * d);
        var loss = new TC[chunkPositions];
        var rank = new int[chunkPositions];
        TC[] widened = typeof(TS) == typeof(TC) ? [] : new TC[Math.Min(rows, n) * c * d];

        void Run(Action<long> advance)
        {
            for (long row = 0; row < n; row += rows)
            {
                long r = Math.Min(rows, n - row);
                int elements = (int)(r * c * d);
                int positions = (int)(r * d);
                shape[0] = (nint)r;
                targetShape[0] = (nint)r;
                ReadOnlySpan<TC> x = typeof(TS) == typeof(TC)
                    ? System.Runtime.InteropServices.MemoryMarshal.Cast<TS, TC>(logits.Slice<TS>(row * c * d, elements))
                    : Widen(logits.Slice<TS>(row * c * d, elements), widened.AsSpan(0, elements));
                ReadOnlySpan<TTarget> t = targets.Slice<TTarget>(row * d, positions);
                Span<TC> l = loss.AsSpan(0, positions);
                Span<int> k = rank.AsSpan(0, positions);
                Functional.CrossEntropy(x, shape, t, targetShape, l, Reduction.None, w, s.IgnoreIndex, s.LabelSmoothing);
                Functional.TargetRank(x, shape, t, targetShape, k, s.IgnoreIndex);
                stats.Add<TTarget, TC>(t, l, k);
                advance(r);
            }
        }

        if (progress && n > 0)
        {
            AnsiConsole.Progress()
                .AutoClear(true)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    ProgressTask task = ctx.AddTask("eval", maxValue: n);
                    Run(r => task.Increment(r));
                });
        }
        else
        {
            Run(static _ => { });
        }

        double mean = stats.MeanLoss;
        return new EvalResult(s, logits, targets, stats, RoundToStorage<TS>(mean), FormatLoss<TS>(mean), stats.WorstClasses(s.TopClasses));
    }

    /// <summary>Rows per chunk: the user's, or enough for about <see cref="DefaultChunkElements"/> logits; a chunk must
    /// fit the library's int-indexed spans.</summary>
    private static long ChunkRows(long? requested, int c, long d)
    {
        long perRow = Math.Max(1, c * d);
        if (perRow > int.MaxValue)
        {
            throw new CliException($"one sample of the logits holds {perRow} values, more than the {int.MaxValue} a chunk can hold");
        }

        long most = int.MaxValue / perRow;
        if (requested is { } r)
        {
            return r <= most
                ? r
                : throw new CliException($"--chunk-rows {r} makes chunks of more than {int.MaxValue} logits; use at most {most}", ExitCodes.Usage);
        }

        return Math.Clamp(DefaultChunkElements / perRow, 1, most);
    }

    private static void CheckShapes(MappedTensor logits, MappedTensor targets)
    {
        if (!logits.IsFloat)
        {
            throw new CliException($"logits must hold floats (float16, bfloat16, float32 or float64), got {logits.DTypeName} in {logits.Source}");
        }

        if (targets.IsFloat)
        {
            throw new CliException($"targets must hold class indices (int64, int32 or uint8), got {targets.DTypeName} in {targets.Source}; eval does not take class probabilities");
        }

        if (logits.Shape.Length < 2)
        {
            throw new CliException($"logits must have shape (N, C) or (N, C, d1, ..., dK), got {CliFormat.ShapeString(logits.Shape)} in {logits.Source}");
        }

        long[] expected = [logits.Shape[0], .. logits.Shape[2..]];
        if (!targets.Shape.AsSpan().SequenceEqual(expected))
        {
            throw new CliException($"targets of shape {CliFormat.ShapeString(targets.Shape)} do not fit logits of shape {CliFormat.ShapeString(logits.Shape)}: expected {CliFormat.ShapeString(expected)}");
        }

        if (logits.Shape[1] > int.MaxValue || logits.Shape[1] == 0)
        {
            throw new CliException($"logits must have between 1 and {int.MaxValue} classes, got {logits.Shape[1]}");
        }
    }

    private static NpyArray ReadWeight(string path)
    {
        NpyArray weight = CliFiles.OpenInput(path, "weight", NpyReader.Read);

        if (!weight.IsFloat || weight.Shape.Length != 1)
        {
            throw new CliException($"weight must be a 1-D float array, got {CliFormat.Describe(weight)} in {path}");
        }

        return weight;
    }

    /// <summary>A whole number from <paramref name="min"/> to <paramref name="max"/>; the message names the option
    /// and the value, not a .NET type.</summary>
    private static long ParseCount(System.CommandLine.Parsing.ArgumentResult result, string option, long min, long max)
    {
        string token = result.Tokens[0].Value;
        if (long.TryParse(token, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long value) && value >= min && value <= max)
        {
            return value;
        }

        result.AddError($"{option} must be a whole number from {min} to {max}, got '{token}'");
        return min;
    }

    /// <summary>The weights as PyTorch holds them: in the logits' dtype (rounded once from the file's), then widened
    /// to the compute type, as the library widens them.</summary>
    private static TC[] WidenWeight<TS, TC>(NpyArray weight)
        where TS : unmanaged
        where TC : unmanaged, IFloatingPointIeee754<TC>
    {
        var result = new TC[weight.Count];
        for (int i = 0; i < result.Length; i++)
        {
            double v = weight.DType switch
            {
                NpyDType.Float16 => (double)weight.AsSpan<Half>()[i],
                NpyDType.Float32 => weight.AsSpan<float>()[i],
                _ => weight.AsSpan<double>()[i],
            };
            double rounded = typeof(TS) == typeof(Half) ? (double)(Half)v
                : typeof(TS) == typeof(BFloat16) ? (double)(BFloat16)v
                : typeof(TS) == typeof(float) ? (float)v
                : v;
            result[i] = TC.CreateTruncating(rounded);
        }

        return result;
    }

    private static ReadOnlySpan<TC> Widen<TS, TC>(ReadOnlySpan<TS> source, Span<TC> destination)
        where TS : unmanaged
        where TC : unmanaged, IFloatingPointIeee754<TC>
    {
        // Half → float and BFloat16 → float are exact; float is the only compute type for them.
        Span<float> f = System.Runtime.InteropServices.MemoryMarshal.Cast<TC, float>(destination);
        if (typeof(TS) == typeof(Half))
        {
            ReadOnlySpan<Half> h = System.Runtime.InteropServices.MemoryMarshal.Cast<TS, Half>(source);
            System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(h, f);
        }
        else
        {
            ReadOnlySpan<BFloat16> b = System.Runtime.InteropServices.MemoryMarshal.Cast<TS, BFloat16>(source);
            for (int i = 0; i < b.Length; i++)
            {
                f[i] = b[i];
            }
        }

        return destination;
    }

    /// <summary>The mean as <c>xent cross-entropy</c> reports it: rounded once to the logits' dtype.</summary>
    private static double RoundToStorage<TS>(double mean) =>
        typeof(TS) == typeof(Half) ? (double)(Half)mean
        : typeof(TS) == typeof(BFloat16) ? (double)(BFloat16)mean
        : typeof(TS) == typeof(float) ? (float)mean
        : mean;

    /// <summary>The mean printed as <c>xent cross-entropy</c> prints a loss of that dtype.</summary>
    private static string FormatLoss<TS>(double mean) =>
        typeof(TS) == typeof(Half) ? ((float)(Half)mean).ToString("G6", CultureInfo.InvariantCulture)
        : typeof(TS) == typeof(BFloat16) ? ((float)(BFloat16)mean).ToString("G6", CultureInfo.InvariantCulture)
        : typeof(TS) == typeof(float) ? ((float)mean).ToString("G8", CultureInfo.InvariantCulture)
        : mean.ToString("G12", CultureInfo.InvariantCulture);
}
