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
        Console.WriteLine($"FMA peak, 1 thread: {PeakBench.Run(1):F1} GFLOP/s; {Environment.ProcessorCount} threads: {PeakBench.Run(Environment.ProcessorCount):F1} GFLOP/s");
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
    case "gemm":
        GemmBench.Run(args);
        break;
    default:
        Console.Error.WriteLine("usage: Xent.LinearBench (lce [--n=2048 --h=512 --v=32000 --reps=3 --chunk=0 --baseline] | gemm [--tune] | kernel | peak) [--threads=N]");
        return 2;
}

return 0;
