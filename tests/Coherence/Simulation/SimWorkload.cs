namespace ShopAstro.Tests.Coherence.Simulation;

/// <summary>
/// The randomized workload of a simulated cluster: one writer per subject (grants, withdrawals, minors, cancellations,
/// erasures), a seller publishing policy versions, checks on every edge, and faults injected at random as
/// <see cref="SimFaults"/> weighs them. The cluster's model and its fault primitives stay in <see cref="SimCluster"/>.
/// </summary>
public sealed class SimWorkload(SimCluster cluster, SimFaults faults)
{
    /// <summary>Runs the workload and its faults for <paramref name="duration"/> of simulated time, then 15 s more for what is in flight.</summary>
    public void Run(TimeSpan duration)
    {
        var end = cluster.World.Clock.Ticks + duration.Ticks;
        var random = cluster.World.Random;
        // Writers: one per subject, each a chain of operations with pauses (grants are the most common).
        foreach (var subject in cluster.Subjects)
        {
            cluster.Client.Run(async () =>
            {
                while (cluster.World.Clock.Ticks < end)
                {
                    var roll = random.Next(100);
                    var op = roll switch
                    {
                        < 35 => SimOp.Grant,
                        < 65 => SimOp.Withdraw,
                        < 75 => SimOp.GrantOther,
                        < 83 => SimOp.Erase,
                        < 90 => SimOp.Minor,
                        < 96 => SimOp.LiftMinor,
                        _ => SimOp.Cancel,
                    };
                    await cluster.WriteAsync(subject, op);
                    await Task.Delay(TimeSpan.FromMilliseconds(50 + random.Next(400)), cluster.World.Clock);
                }
            });
        }

        // The seller: a new policy version every few seconds (every publish counts as restrictive: the store's status
        // flips); one in three scheduled ahead, after which nothing is published until it has taken effect.
        cluster.Client.Run(async () =>
        {
            await Task.Delay(TimeSpan.FromMilliseconds(500 + random.Next(3_000)), cluster.World.Clock);
            while (cluster.World.Clock.Ticks < end)
            {
                if (random.Next(3) == 0)
                {
                    // Its instant; after a failed publish, when it would be had the store stamped it now (a publish
                    // made before it takes effect is refused, which is harmless).
                    var scheduled = await cluster.ScheduleAsync();
                    var instant = scheduled?.EffectiveAt ?? cluster.World.Clock.GetUtcNow() + cluster.ScheduleLead;
                    await Task.Delay(instant - cluster.World.Clock.GetUtcNow() + TimeSpan.FromMilliseconds(100), cluster.World.Clock);
                }
                else
                {
                    await cluster.PublishAsync();
                }

                await Task.Delay(TimeSpan.FromMilliseconds(500 + random.Next(4_000)), cluster.World.Clock);
            }
        });

        // Checkers: every edge checks random subjects all the time.
        foreach (var edge in cluster.Edges.ToList())
        {
            StartChecker(edge, end);
        }

        // Faults.
        cluster.Client.Run(async () =>
        {
            while (cluster.World.Clock.Ticks < end)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200 + random.Next(600)), cluster.World.Clock);
                InjectFault(end);
            }
        });

        cluster.World.RunUntil(end + TimeSpan.FromSeconds(15).Ticks);
    }

    private void StartChecker(SimEdge edge, long end) => cluster.Client.Run(async () =>
    {
        while (cluster.World.Clock.Ticks < end && edge.Process.Alive)
        {
            if (!edge.Process.Paused)
            {
                // Now and then a subject nobody writes: decided from the store's absence lease.
                var pick = cluster.World.Random.Next(cluster.Subjects.Count + 1);
                _ = cluster.CheckAsync(edge, pick < cluster.Subjects.Count ? cluster.Subjects[pick] : cluster.NeverWritten);
            }

            await Task.Delay(TimeSpan.FromMilliseconds(5 + cluster.World.Random.Next(40)), cluster.World.Clock);
        }
    });

    private void InjectFault(long end)
    {
        var random = cluster.World.Random;
        var roll = random.NextDouble();
        if ((roll -= faults.SiloKill) < 0)
        {
            cluster.KillSilo(cluster.Silos[random.Next(cluster.Silos.Count)]);
        }
        else if ((roll -= faults.SiloKill / 4) < 0)
        {
            cluster.KillControl();
        }
        else if ((roll -= faults.EdgePause) < 0)
        {
            var edge = cluster.Edges[random.Next(cluster.Edges.Count)];
            if (!edge.Process.Paused)
            {
                edge.Process.Pause();
                cluster.World.At(TimeSpan.FromMilliseconds(300 + random.Next(12_000)), cluster.Client, edge.Process.Resume);
                cluster.Count("edge SIGSTOP/SIGCONT");
            }
        }
        else if ((roll -= faults.EdgeKill) < 0)
        {
            StartChecker(cluster.KillEdge(cluster.Edges[random.Next(cluster.Edges.Count)]), end);
        }
        else if ((roll -= faults.Partition) < 0)
        {
            var edge = cluster.Edges[random.Next(cluster.Edges.Count)];
            SimProcess other = random.Next(3) switch
            {
                0 => cluster.Control.Process,
                _ => cluster.Silos[random.Next(cluster.Silos.Count)].Process,
            };
            cluster.Network.Cut(edge.Process, other);
            cluster.World.At(TimeSpan.FromMilliseconds(500 + random.Next(6_000)), cluster.Client, cluster.Network.Heal);
            cluster.Count("partition");
        }
        else if ((roll -= faults.SiloPause) < 0)
        {
            var silo = random.Next(4) == 0 ? cluster.Control.Silo : cluster.Silos[random.Next(cluster.Silos.Count)];
            if (!silo.Process.Paused)
            {
                cluster.PauseSilo(silo, TimeSpan.FromMilliseconds(300 + random.Next(14_000)));
            }
        }
        else if ((roll -= faults.DuplicateActivation) < 0)
        {
            cluster.DuplicateActivation(cluster.Subjects[random.Next(cluster.Subjects.Count)]);
        }
        else if ((roll -= faults.EdgeDropsRevocations) < 0)
        {
            var edge = cluster.Edges[random.Next(cluster.Edges.Count)];
            if (!edge.DropsRevocations)
            {
                edge.DropsRevocations = true;
                cluster.World.At(TimeSpan.FromMilliseconds(300 + random.Next(12_000)), cluster.Client, () => edge.DropsRevocations = false);
                cluster.Count("edge drops revocations");
            }
        }
    }
}
