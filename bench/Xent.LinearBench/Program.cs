using Xent;
using Xent.LinearBench;

string command = args.Length > 0 ? args[0] : "all";
foreach (string a in args)
{
    if (a.StartsWith("--threads=", StringComparison.Ordinal))
    {
        Parallelism.MaxDegreeOfParallelism = int.Parse(a["--threads=".Length..]);
    }
}

switch (command)
{
    case "peak":
        var one = PeakBench.Measure(1);
        var all = PeakBench.Measure(Environment.ProcessorCount);
        Console.WriteLine($"FMA-loop peak, 1 thread: {one.Wall:F1} GFLOP/s wall, {one.PerCoreSecond:F1} per CPU-second; " +
                          $"{Environment.ProcessorCount} threads: {all.Wall:F1} GFLOP/s wall, {all.PerCoreSecond:F1} per CPU-second");
        break;
    case "kernel":
        KernelBench.Run();
        break;
    case "lce":
        LceBench.Run(args);
        break;
    case "pack":
        PackBench.Run(args);
        break;
    case "rows":
        RowsBench.Run(args);
        break;
    case "gemm":
        GemmBench.Run(args);
        break;
    default:
        Console.Error.WriteLine("usage: Xent.LinearBench (lce [--n=2048 --h=512 --v=32000 --reps=3 --chunk=0 --baseline --no-forward --no-torch --filter --wscale-milli=50] | gemm [--tune | --ab | --large] | kernel | peak) [--threads=N]");
        return 2;
}

return 0;
