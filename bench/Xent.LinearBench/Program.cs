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
    case "gemm":
        GemmBench.Run(args);
        break;
    default:
        Console.Error.WriteLine("usage: Xent.LinearBench gemm [--tune] [--threads=N]");
        return 2;
}

return 0;
