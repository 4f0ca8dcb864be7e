@file:Suppress("unused", "UNUSED_PARAMETER")
package androidx.activity.result.contract
abstract class ActivityResultContract<I, O>
object ActivityResultContracts { class TakePicture : ActivityResultContract<android.net.Uri, Boolean>() }
