using ShopAstro.Coherence;

namespace ShopAstro.Silo.Fencing;

/// <summary>
/// Runs a grain call only while this silo's <see cref="MembershipFence"/> is fresh, and holds its answer (a result, a
/// lease, an acknowledgement, a failure) until the fence is fresh again: an activation on a silo that was paused long
/// enough to be replaced neither acts on the calls that reached it meanwhile (a write it would commit beside its
/// replacement, which acknowledges without re-reading) nor answers from its old state. Fresh (nearly always),
/// the call's own task is returned as is.
/// </summary>
public sealed class MembershipFenceFilter(MembershipFence fence) : IIncomingGrainCallFilter
{
    /// <summary>How long a call waits for a confirmation before it fails (503 at the edge; a retry goes elsewhere).</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(5);

    public Task Invoke(IIncomingGrainCallContext context)
    {
        if (!fence.IsFresh)
        {
            return fence.RunAsync(context.Invoke, Patience);
        }

        var call = context.Invoke();
        return call.IsCompletedSuccessfully && fence.IsFresh ? call : fence.AnswerAsync(call, Patience);
    }
}
