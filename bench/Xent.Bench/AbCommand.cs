using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using static System.FormattableString;

namespace Xent.Bench;

/// <summary>
/// <c>ab --switch NAME --case KIND:SHAPE [--threads T] [--pairs P] [--forward]</c>: two versions of a kernel alternated
/// call by call in one process, for a speed decision on a host whose speed drifts between runs by more than most changes
/// are worth. The library has no switches of its own: add a temporary
/// <c>internal static class AbTest { internal static bool NAME = true; }</c> to namespace <c>Xent.Kernels</c>, read it
/// where the two versions part (true: the new one, B), and take it out again before committing. Prints each side's
/// fastest and median time and the median of the per-pair ratios B/A with its quartiles; the order within a pair
/// alternates from pair to pair.
/// </summary>
/// <remarks>KIND: ce-f32, ce-f16, ce-bf16 (int64 class targets, one in 31 ignored; a -u8 suffix, as ce-bf16-u8: uint8 targets,
/// ignore_index 255, for C up to 255), prob-f32, prob-f16, prob-bf16 (probability targets),
/// logsoftmax-f32 (log-softmax over dimension 1; --forward changes nothing). SHAPE: N×C
/// rows as 16384x1000, or N×C×D as 8x21x262144 (targets N×D). Forward and backward with a mean, unless --forward.</remarks>
internal static class AbCommand
{
    public static int Run(string[] args)
    {
        if (!Parse("ab", args, true, out string? name, out string spec, out int threads, out int pairs, out bool forward))
        {
            return 2;
        }

        FieldInfo? field = typeof(Functional).Assembly.GetType("Xent.Kernels.AbTest")?.GetField(name!, BindingFlags.Static | BindingFlags.NonPublic | BindingFlags.Public);
        if (field is null || field.FieldType != typeof(bool))
        {
            Console.Error.WriteLine($"ab: the library has no switch 'static bool {name}' in Xent.Kernels.AbTest; add one for the experiment (see bench/README.md)");
            return 2;
        }

        Action? call = Prepare("ab", spec, forward, threads);
        if (call is null)
        {
            return 2;
        }

        for (int w = 0; w < 5; w++)
        {
            field.SetValue(null, false);
            call();
            field.SetValue(null, true);
            call();
        }

        var a = new double[pairs];
        var b = new double[pairs];
        var ratio = new double[pairs];
        for (int k = 0; k < pairs; k++)
        {
            for (int s = 0; s < 2; s++)
            {
                bool useB = (s == 0) == (k % 2 == 1);
                field.SetValue(null, useB);
                long start = Stopwatch.GetTimestamp();
                call();
                double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                (useB ? b : a)[k] = ms;
            }

            ratio[k] = b[k] / a[k];
        }

        field.SetValue(null, true);
        Array.Sort(a);
        Array.Sort(b);
        Array.Sort(ratio);
        Console.WriteLine(Invariant($"ab {name} {spec}{(forward ? " forward" : " forward+backward")}, {threads} threads, {pairs} pairs"));
        Console.WriteLine(Invariant($"  A ({name} = false): fastest {a[0]:F3} ms, median {a[pairs / 2]:F3} ms"));
        Console.WriteLine(Invariant($"  B ({name} = true):  fastest {b[0]:F3} ms, median {b[pairs / 2]:F3} ms"));
        Console.WriteLine(Invariant($"  B/A per pair: median {ratio[pairs / 2]:F3} (quartiles {ratio[pairs / 4]:F3} to {ratio[3 * pairs / 4]:F3})"));
        return 0;
    }

    /// <summary><c>run --case KIND:SHAPE [--threads T] [--calls K] [--forward]</c>: one case called K times (default 200)
    /// after a warm-up, for a profiler to watch (bench/profile.sh); prints the fastest and the median call.</summary>
    public static int RunCase(string[] args)
    {
        if (!Parse("run", args, false, out _, out string spec, out int threads, out int calls, out bool forward))
        {
            return 2;
        }

        Action? call = Prepare("run", spec, forward, threads);
        if (call is null)
        {
            return 2;
        }

        for (int w = 0; w < 10; w++)
        {
            call();
        }

        var ms = new double[calls];
        for (int k = 0; k < calls; k++)
        {
            long start = Stopwatch.GetTimestamp();
            call();
            ms[k] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }

        Array.Sort(ms);
        Console.WriteLine(Invariant($"run {spec}{(forward ? " forward" : " forward+backward")}, {threads} threads, {calls} calls: fastest {ms[0]:F3} ms, median {ms[calls / 2]:F3} ms"));
        return 0;
    }

    /// <summary>The arguments of <c>ab</c> (<paramref name="withSwitch"/>: --switch and --pairs) and of <c>run</c>
    /// (--calls); false after printing what is wrong.</summary>
    private static bool Parse(string command, string[] args, bool withSwitch, out string? name, out string spec, out int threads, out int count, out bool forward)
    {
        name = null;
        string? caseSpec = null;
        threads = Environment.ProcessorCount;
        count = withSwitch ? 40 : 200;
        forward = false;
        string countFlag = withSwitch ? "--pairs" : "--calls";
        int least = withSwitch ? 4 : 1;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--switch" when withSwitch && i + 1 < args.Length:
                    name = args[++i];
                    break;
                case "--case" when i + 1 < args.Length:
                    caseSpec = args[++i];
                    break;
                case "--threads" when i + 1 < args.Length && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out threads) && threads > 0:
                    i++;
                    break;
                case var flag when flag == countFlag && i + 1 < args.Length && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out count) && count >= least:
                    i++;
                    break;
                case "--forward":
                    forward = true;
                    break;
                default:
                    Console.Error.WriteLine($"{command}: unknown or incomplete argument '{args[i]}' (expected {(withSwitch ? "--switch NAME, " : "")}--case KIND:SHAPE, --threads T, {countFlag} {(withSwitch ? "P >= 4" : "K >= 1")}, --forward)");
                    spec = "";
                    return false;
            }
        }

        spec = caseSpec ?? "";
        if ((withSwitch && name is null) || caseSpec is null)
        {
            Console.Error.WriteLine(withSwitch
                ? "ab: --switch NAME and --case KIND:SHAPE are required, e.g. --switch NewPath --case ce-f16:16384x1000"
                : "run: --case KIND:SHAPE is required, e.g. --case ce-bf16:8x21x262144");
            return false;
        }

        return true;
    }

    /// <summary>The case's call (<see cref="Build"/>) with the thread cap set; null after printing what is wrong.</summary>
    private static Action? Prepare(string command, string spec, bool forward, int threads)
    {
        Action? call = Build(spec, forward, out string? problem);
        if (call is null)
        {
            Console.Error.WriteLine($"{command}: {problem}");
            return null;
        }

        Parallelism.MaxDegreeOfParallelism = threads;
        return call;
    }

    private static Action? Build(string spec, bool forward, out string? problem)
    {
        problem = null;
        string[] parts = spec.Split(':');
        long[] dims = parts.Length == 2 ? parts[1].Split('x').Select(d => long.TryParse(d, CultureInfo.InvariantCulture, out long v) ? v : -1).ToArray() : [];
        if (parts.Length != 2 || dims.Length is < 2 or > 3 || dims.Any(d => d <= 0) || dims.Aggregate(1L, (p, d) => p * d) > int.MaxValue)
        {
            problem = $"--case '{spec}': expected KIND:NxC or KIND:NxCxD with positive sizes and fewer than 2^31 elements";
            return null;
        }

        nint[] shape = [.. dims.Select(d => (nint)d)];
        int c = (int)dims[1];
        nint[] targetShape = dims.Length == 2 ? [shape[0]] : [shape[0], shape[2]];
        long elements = dims.Aggregate(1L, (p, d) => p * d);
        long positions = elements / c;
        var r = new Random(1);
        float[] x = GC.AllocateUninitializedArray<float>((int)elements, pinned: true);
        for (long i = 0; i < elements; i++)
        {
            x[i] = (float)(r.NextDouble() * 8 - 4);
        }

        long[] t = new long[positions];
        for (long i = 0; i < positions; i++)
        {
            t[i] = i % 31 == 0 ? -100 : r.Next(c);
        }

        if (parts[0] is "ce-f32-u8" or "ce-f16-u8" or "ce-bf16-u8")
        {
            if (c > 255)
            {
                problem = $"--case '{spec}': uint8 targets need C <= 255";
                return null;
            }

            byte[] t8 = [.. t.Select(v => v < 0 ? (byte)255 : (byte)v)];
            return parts[0] switch
            {
                "ce-f32-u8" => Classes(x, shape, t8, targetShape, forward, ignoreIndex: 255),
                "ce-f16-u8" => Classes(x.Select(v => (Half)v).ToArray(), shape, t8, targetShape, forward, ignoreIndex: 255),
                _ => Classes(x.Select(v => (BFloat16)v).ToArray(), shape, t8, targetShape, forward, ignoreIndex: 255),
            };
        }

        switch (parts[0])
        {
            case "ce-f32":
                return Classes(x, shape, t, targetShape, forward);
            case "ce-f16":
                return Classes(x.Select(v => (Half)v).ToArray(), shape, t, targetShape, forward);
            case "ce-bf16":
                return Classes(x.Select(v => (BFloat16)v).ToArray(), shape, t, targetShape, forward);
            case "prob-f32" or "prob-f16" or "prob-bf16":
            {
                float[] p = GC.AllocateUninitializedArray<float>((int)elements, pinned: true);
                for (long i = 0; i < elements; i++)
                {
                    p[i] = (float)r.NextDouble() / c;
                }

                return parts[0] switch
                {
                    "prob-f32" => Probabilities(x, shape, p, forward),
                    "prob-f16" => Probabilities(x.Select(v => (Half)v).ToArray(), shape, p.Select(v => (Half)v).ToArray(), forward),
                    _ => Probabilities(x.Select(v => (BFloat16)v).ToArray(), shape, p.Select(v => (BFloat16)v).ToArray(), forward),
                };
            }

            case "logsoftmax-f32":
            {
                float[] y = GC.AllocateUninitializedArray<float>((int)elements, pinned: true);
                return () => Functional.LogSoftmax<float>(x, shape, 1, y);
            }

            default:
                problem = $"--case '{spec}': unknown kind '{parts[0]}' (ce-f32, ce-f16, ce-bf16 and their -u8 forms, prob-f32, prob-f16, prob-bf16, logsoftmax-f32)";
                return null;
        }
    }

    private static Action Probabilities<T>(T[] x, nint[] shape, T[] p, bool forward)
        where T : unmanaged
    {
        T[] g = forward ? [] : GC.AllocateUninitializedArray<T>(x.Length, pinned: true);
        T[] loss = new T[1];
        return () => Functional.CrossEntropy<T>(x, shape, p, loss, Reduction.Mean, default, 0.0, g);
    }

    private static Action Classes<T, TTarget>(T[] x, nint[] shape, TTarget[] t, nint[] targetShape, bool forward, long ignoreIndex = -100)
        where T : unmanaged
        where TTarget : unmanaged, System.Numerics.IBinaryInteger<TTarget>
    {
        T[] g = forward ? [] : GC.AllocateUninitializedArray<T>(x.Length, pinned: true);
        T[] loss = new T[1];
        return () => Functional.CrossEntropy<T, TTarget>(x, shape, t, targetShape, loss, Reduction.Mean, ignoreIndex: ignoreIndex, gradInput: g);
    }
}
