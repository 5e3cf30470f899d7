using Orleans.Concurrency;

namespace ShopAstro.Grains.Interfaces;

/// <summary>Data-subject requests of §4(5). Numeric values are persisted: never renumber.</summary>
[GenerateSerializer]
public enum RequestType
{
    Access = 0,
    Correction = 1,
    Deletion = 2,
    Cancellation = 3,
    Withdrawal = 4,
    Explanation = 5,
}

[GenerateSerializer]
public enum RequestStatus
{
    Open = 0,
    Completed = 1,
    Rejected = 2,
}

/// <summary>
/// The only grounds on which §4(5) of the privacy policy lets a request be rejected, in the policy's order.
/// Numeric values are persisted: never renumber.
/// </summary>
[GenerateSerializer]
public enum RejectionGround
{
    /// <summary>Relevant to fulfilling obligations stipulated by laws and regulations.</summary>
    LegalObligation = 0,

    /// <summary>Directly related to national security and national defence security.</summary>
    NationalSecurity = 1,

    /// <summary>Directly related to public safety, public health and major public interests.</summary>
    PublicInterest = 2,

    /// <summary>Directly related to criminal investigation, prosecution, trial and execution of judgments.</summary>
    CriminalInvestigation = 3,

    /// <summary>Sufficient evidence that the user has subjective malice or abuses the right.</summary>
    AbuseOfRights = 4,

    /// <summary>To protect the life, property or other major legal rights of the user or others when consent is hard to obtain.</summary>
    VitalInterests = 5,

    /// <summary>Responding would seriously damage the legitimate rights and interests of the user or others.</summary>
    HarmToOthers = 6,

    /// <summary>Involving trade secrets.</summary>
    TradeSecrets = 7,
}

/// <summary>How the requester's identity was verified (§4(5): "after verifying your identity"). Persisted: never renumber.</summary>
[GenerateSerializer]
public enum VerificationMethod
{
    /// <summary>The request came from the logged-in account (login password or code).</summary>
    AccountLogin = 0,

    /// <summary>A verification code sent to the account's mainland China mobile number.</summary>
    SmsCode = 1,

    /// <summary>A verification code sent to the account's email address.</summary>
    EmailCode = 2,

    /// <summary>An identity document checked by the seller.</summary>
    IdDocument = 3,

    /// <summary>Another method the seller documents outside the cluster.</summary>
    Other = 4,
}

/// <summary>When and how the requester's identity was verified.</summary>
[GenerateSerializer, Immutable, Alias("shopastro.IdentityVerification")]
public sealed record IdentityVerification(
    [property: Id(0)] VerificationMethod Method,
    [property: Id(1)] DateTimeOffset VerifiedAt);

/// <param name="SubjectId">The raw subject id while the request is open; null once it is completed or rejected.</param>
/// <param name="CompletedAt">When the request was completed or rejected.</param>
/// <param name="RepeatKey">
/// A keyed hash of the store, subject and type, kept only while a later request could be a repeat of this one
/// (<c>Requests:RepeatWindow</c> after receipt); it cannot be reversed or tested without the anonymisation key.
/// </param>
/// <param name="RepeatOf">The earlier request of the same type for the same subject within the repeat window.</param>
[GenerateSerializer, Immutable, Alias("shopastro.DataSubjectRequest")]
public sealed record DataSubjectRequest(
    [property: Id(0)] string Id,
    [property: Id(1)] string? SubjectId,
    [property: Id(2)] RequestType Type,
    [property: Id(3)] RequestStatus Status,
    [property: Id(4)] DateTimeOffset ReceivedAt,
    [property: Id(5)] DateTimeOffset DueAt,
    [property: Id(6)] DateTimeOffset? CompletedAt,
    [property: Id(7)] bool OverdueNotified = false,
    [property: Id(8)] bool DueAtProvisional = false,
    [property: Id(9)] string? RepeatKey = null,
    [property: Id(10)] string? RepeatOf = null,
    [property: Id(11)] IdentityVerification? Verification = null,
    [property: Id(12)] RejectionGround? RejectionGround = null)
{
    public bool IsOverdue(DateTimeOffset now) => Status == RequestStatus.Open && now > DueAt;
}

/// <summary>A request as the seller registers it.</summary>
[GenerateSerializer, Immutable, Alias("shopastro.RequestRegistration")]
public sealed record RequestRegistration(
    [property: Id(0)] string SubjectId,
    [property: Id(1)] RequestType Type,
    [property: Id(2)] DateTimeOffset ReceivedAt,
    [property: Id(3)] IdentityVerification? Verification = null);

/// <summary>What a change of a request came to.</summary>
[GenerateSerializer]
public enum RequestChangeStatus
{
    Done = 0,
    NotFound = 1,

    /// <summary>The due date runs past the calendar's coverage and provisional due dates are not allowed.</summary>
    CalendarNotCovered = 2,

    /// <summary>The request was already completed or rejected otherwise.</summary>
    AlreadyClosed = 3,

    /// <summary>A deletion or cancellation is completed only for a verified requester.</summary>
    IdentityNotVerified = 4,
}

[GenerateSerializer, Immutable, Alias("shopastro.RequestChange")]
public sealed record RequestChange(
    [property: Id(0)] RequestChangeStatus Status,
    [property: Id(1)] DataSubjectRequest? Request = null);

/// <summary>Which requests to list.</summary>
[GenerateSerializer]
public enum RequestFilter
{
    All = 0,
    Open = 1,
    Overdue = 2,
    Completed = 3,
    Rejected = 4,
}

/// <summary>A store's data-subject requests and their deadlines (key: store id).</summary>
[Alias("shopastro.IStoreRequestsGrain")]
public interface IStoreRequestsGrain : IGrainWithStringKey
{
    /// <summary>
    /// Registers a request, due 15 working days after the day of receipt, flagged when it repeats an earlier one
    /// within the repeat window.
    /// </summary>
    [Alias("RegisterRequest")]
    Task<RequestChange> Register(RequestRegistration registration);

    [Alias("List"), ReadOnly]
    Task<DataSubjectRequest[]> List(RequestFilter filter);

    [Alias("Get"), ReadOnly]
    Task<DataSubjectRequest?> Get(string requestId);

    /// <summary>Records how and when the requester's identity was verified (an open request only).</summary>
    [Alias("Verify")]
    Task<RequestChange> Verify(string requestId, IdentityVerification verification);

    /// <summary>
    /// Completes an open request. A deletion or cancellation request needs a verified identity and is completed
    /// by erasing or cancelling the subject (as <c>DELETE</c> and <c>POST .../cancel</c> do) before it is marked.
    /// </summary>
    [Alias("CompleteRequest")]
    Task<RequestChange> Complete(string requestId);

    /// <summary>Rejects an open request on one of the policy's grounds.</summary>
    [Alias("Reject")]
    Task<RequestChange> Reject(string requestId, RejectionGround ground);
}
