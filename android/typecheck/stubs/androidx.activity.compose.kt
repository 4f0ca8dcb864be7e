@file:Suppress("unused", "UNUSED_PARAMETER")
package androidx.activity.compose
import androidx.activity.result.contract.ActivityResultContract
class ManagedActivityResultLauncher<I, O> { fun launch(input: I) {} }
fun <I, O> rememberLauncherForActivityResult(contract: ActivityResultContract<I, O>, onResult: (O) -> Unit): ManagedActivityResultLauncher<I, O> = TODO()
