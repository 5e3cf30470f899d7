using ShopAstro.Coherence;

namespace ShopAstro.Silo.Fencing;

/// <summary>
/// Holds every grain call's answer (a result, a lease, an acknowledgement, a failure) until this silo's
/// <see cref="MembershipFence"/> is fresh: an activation on a silo that was paused long enough to be replaced does not
/// answer from its old state. Fresh (nearly always), the call's own task is returned as is.
/// </summary>
public sealed class MembershipFenceFilter(MembershipFence fence) : IIncomingGrainCallFilter
{
    /// <summary>How long an answer waits for a confirmation before it fails (503 at the edge; a retry goes elsewhere).</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(5);

    public Task Invoke(IIncomingGrainCallContext context)
    {
        var call = context.Invoke();
        return call.IsCompletedSuccessfully && fence.IsFresh ? call : AnswerWhenFreshAsync(call);
    }

    private async Task AnswerWhenFreshAsync(Task call)
    {
        try
        {
            await call;
        }
        finally
        {
            await fence.WhenFreshAsync(Patience);
        }
    }
}
